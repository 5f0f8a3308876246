"""scale: indexes for the poller's claim and the watchers' sweeps, the still-preparing sweep's mark on orders,
the carrier rate shared by every daemon, and the freshness times of each message

Revision ID: scale_1
Revises: exactly_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tracker.models

revision = "scale_1"
down_revision = "exactly_1"
branch_labels = None
depends_on = None

MOVED = ("expected_delivery IS NOT NULL AND "
         "expected_delivery <> coalesce(announced_delivery, first_expected_delivery)")
UNSHIPPED = "first_parcel_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_parcel_at", tracker.models.UTCDateTime(timezone=True), nullable=True))
    # orders that already have a parcel are marked, so the still-preparing sweep never reads them
    op.execute("UPDATE orders SET first_parcel_at = (SELECT min(shipments.created_at) FROM shipments "
               "WHERE shipments.order_id = orders.id)")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_unshipped", ["created_at"], unique=False,
                              sqlite_where=sa.text(UNSHIPPED), postgresql_where=sa.text(UNSHIPPED))
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index("ix_shipments_claim", ["source", "next_check_at"], unique=False)
        batch_op.create_index("ix_shipments_claim_urgent", ["source", "status", "next_check_at"], unique=False)
        batch_op.create_index("ix_shipments_quiet", ["status", "last_event_at", "created_at"], unique=False)
        batch_op.create_index("ix_shipments_late", ["status", "first_expected_delivery"], unique=False)
        batch_op.create_index("ix_shipments_delivered", ["status", "delivered_at"], unique=False)
        batch_op.create_index("ix_shipments_date_moved", ["status"], unique=False,
                              sqlite_where=sa.text(MOVED), postgresql_where=sa.text(MOVED))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_at", tracker.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("heard_at", tracker.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("heard_via", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.create_index("ix_notifications_sent_at", ["sent_at"], unique=False)
    with op.batch_alter_table("carrier_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_slot_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("carrier_states", schema=None) as batch_op:
        batch_op.drop_column("next_slot_at")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_sent_at")
        batch_op.drop_column("heard_via")
        batch_op.drop_column("heard_at")
        batch_op.drop_column("event_at")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index("ix_shipments_date_moved")
        batch_op.drop_index("ix_shipments_delivered")
        batch_op.drop_index("ix_shipments_late")
        batch_op.drop_index("ix_shipments_quiet")
        batch_op.drop_index("ix_shipments_claim_urgent")
        batch_op.drop_index("ix_shipments_claim")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_unshipped")
        batch_op.drop_column("first_parcel_at")
