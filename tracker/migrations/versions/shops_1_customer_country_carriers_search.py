"""shops: why a contact detail could not be used, the shop's carrier name and link on a parcel, email search
case-folded and indexed

Revision ID: shops_1
Revises: connect_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "shops_1"
down_revision = "connect_1"
branch_labels = None
depends_on = None

PROBLEM = sa.text("contact_problem IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_problem", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column("email_folded", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
        batch_op.create_index(batch_op.f("ix_orders_email_folded"), ["email_folded"], unique=False)
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("carrier_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("tracking_url", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True))
    op.execute("UPDATE orders SET email_folded = lower(email) WHERE email IS NOT NULL")
    op.create_index("ix_orders_contact_problem", "orders", ["id"], unique=False, sqlite_where=PROBLEM,
                    postgresql_where=PROBLEM)


def downgrade() -> None:
    op.drop_index("ix_orders_contact_problem", table_name="orders")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_column("tracking_url")
        batch_op.drop_column("carrier_name")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_email_folded"))
        batch_op.drop_column("email_folded")
        batch_op.drop_column("contact_problem")
