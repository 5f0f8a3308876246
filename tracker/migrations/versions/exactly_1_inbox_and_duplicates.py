"""exactly: the durable push inbox, duplicate sends counted, per-source cool-downs

Revision ID: exactly_1
Revises: connect_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tracker.models

revision = "exactly_1"
down_revision = "shops_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cooldown_until", tracker.models.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "duplicate_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("provider_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("seen_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("seen_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notification_id", "provider_id", name="uq_duplicate_send"),
    )
    with op.batch_alter_table("duplicate_sends", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duplicate_sends_notification_id"), ["notification_id"], unique=False)
    op.create_table(
        "push_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("leased_until", tracker.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("received_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_at", tracker.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "event_id", name="uq_push_inbox_event"),
    )
    with op.batch_alter_table("push_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_push_inbox_due", ["state", "next_try_at"], unique=False)
        batch_op.create_index("ix_push_inbox_key", ["key", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("push_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_push_inbox_key")
        batch_op.drop_index("ix_push_inbox_due")
    op.drop_table("push_inbox")
    with op.batch_alter_table("duplicate_sends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_sends_notification_id"))
    op.drop_table("duplicate_sends")
    with op.batch_alter_table("source_states", schema=None) as batch_op:
        batch_op.drop_column("cooldown_until")
