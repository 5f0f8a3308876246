"""WhatsApp sessions, the customer's preference changes, per-database secrets

Revision ID: channels_1
Revises: reliable_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tracker.models

revision = "channels_1"
down_revision = "reliable_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_sessions",
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("last_inbound_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone"),
    )
    op.create_table(
        "preference_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("change", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("preference_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_preference_changes_order_id"), ["order_id"], unique=False)
    op.create_table(
        "app_secrets",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("app_secrets")
    with op.batch_alter_table("preference_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_preference_changes_order_id"))
    op.drop_table("preference_changes")
    op.drop_table("whatsapp_sessions")
