"""pages: a public token per order, for its page before it ships (/o/<token>)

Revision ID: pages_1
Revises: conversations_1
"""

import secrets

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "pages_1"
down_revision = "conversations_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_token", sqlmodel.sql.sqltypes.AutoString(length=43), nullable=True))
    conn = op.get_bind()
    ids = [row[0] for row in conn.execute(sa.text("SELECT id FROM orders WHERE public_token IS NULL"))]
    if ids:
        conn.execute(sa.text("UPDATE orders SET public_token = :t WHERE id = :i"),
                     [{"t": secrets.token_urlsafe(24), "i": i} for i in ids])
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_public_token"), ["public_token"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_public_token"))
        batch_op.drop_column("public_token")
