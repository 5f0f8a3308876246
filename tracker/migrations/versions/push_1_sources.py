"""tracking sources: shipments.source and push_heard_at, source_subscriptions, source_states

Revision ID: push_1
Revises: 0003
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tracker.models

revision = "push_1"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("push_heard_at", tracker.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_shipments_source"), ["source"], unique=False)
    # every shipment so far is heard through its carrier's own module
    op.execute("UPDATE shipments SET source = carrier WHERE source = ''")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.alter_column("source", server_default=None)

    op.create_table(
        "source_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tracking_number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("carrier", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("carrier_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", tracker.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("subscribed_at", tracker.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", tracker.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shipment_id"], ["shipments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shipment_id", "source", name="uq_subscription_shipment_source"),
    )
    with op.batch_alter_table("source_subscriptions", schema=None) as batch_op:
        batch_op.create_index("ix_source_subscriptions_due", ["state", "next_try_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_source_subscriptions_tracking_number"), ["tracking_number"],
                              unique=False)

    op.create_table(
        "source_states",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("quota_remaining", sa.Integer(), nullable=True),
        sa.Column("quota_total", sa.Integer(), nullable=True),
        sa.Column("quota_checked_at", tracker.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failing_since", tracker.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("pushes_unmatched", sa.Integer(), nullable=False),
        sa.Column("updated_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )


def downgrade() -> None:
    op.drop_table("source_states")
    with op.batch_alter_table("source_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_subscriptions_tracking_number"))
        batch_op.drop_index("ix_source_subscriptions_due")
    op.drop_table("source_subscriptions")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipments_source"))
        batch_op.drop_column("push_heard_at")
        batch_op.drop_column("source")
