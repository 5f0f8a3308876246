"""schema_history (which tracker applied each migration); notifications.resent_in_doubt where it is missing

Revision ID: release_1
Revises: parcels_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tracker.models

revision = "release_1"
down_revision = "parcels_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schema_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tracker_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("applied_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # reliable_1 gained this column after it first landed (b4e21fd): a database migrated by the first
    # reliable_1 (19f3a4d) is recorded at reliable_1 or later without it.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("notifications")}
    if "resent_in_doubt" not in columns:
        with op.batch_alter_table("notifications", schema=None) as batch_op:
            batch_op.add_column(sa.Column("resent_in_doubt", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_table("schema_history")
