"""watch: the silence and late sweeps read what is due (a next-look time per shipment), the contact erasure
only orders not erased yet

Revision ID: watch_1
Revises: pages_1
"""

import sqlalchemy as sa
from alembic import op

import tracker.models

revision = "watch_1"
down_revision = "pages_1"
branch_labels = None
depends_on = None

SILENCE_UNWATCHED = "silence_due_at IS NULL"
LATE_UNWATCHED = "late_due_at IS NULL"
UNERASED = "erased_at IS NULL"


def upgrade() -> None:
    # every shipment starts "not looked at": the first pass after the upgrade looks at each silent or late one
    # once (what was told is read from its notifications: nothing is told twice) and sets its next look
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("silence_due_at", tracker.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("late_due_at", tracker.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index("ix_shipments_quiet_unwatched", ["status", "last_event_at", "created_at"], unique=False,
                              sqlite_where=sa.text(SILENCE_UNWATCHED), postgresql_where=sa.text(SILENCE_UNWATCHED))
        batch_op.create_index("ix_shipments_silence_due", ["silence_due_at"], unique=False)
        batch_op.create_index("ix_shipments_late_unwatched", ["status", "first_expected_delivery"], unique=False,
                              sqlite_where=sa.text(LATE_UNWATCHED), postgresql_where=sa.text(LATE_UNWATCHED))
        batch_op.create_index("ix_shipments_late_due", ["late_due_at"], unique=False)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_unerased", ["created_at"], unique=False,
                              sqlite_where=sa.text(UNERASED), postgresql_where=sa.text(UNERASED))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_unerased")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index("ix_shipments_late_due")
        batch_op.drop_index("ix_shipments_late_unwatched")
        batch_op.drop_index("ix_shipments_silence_due")
        batch_op.drop_index("ix_shipments_quiet_unwatched")
        batch_op.drop_column("late_due_at")
        batch_op.drop_column("silence_due_at")
