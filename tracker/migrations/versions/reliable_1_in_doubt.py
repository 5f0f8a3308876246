"""sends in doubt: notifications.handed_at, body_digest, doubt and resent_in_doubt

Revision ID: reliable_1
Revises: push_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tracker.models

revision = "reliable_1"
down_revision = "push_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handed_at", tracker.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("body_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("doubt", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column("resent_in_doubt", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("resent_in_doubt")
        batch_op.drop_column("doubt")
        batch_op.drop_column("body_digest")
        batch_op.drop_column("handed_at")
