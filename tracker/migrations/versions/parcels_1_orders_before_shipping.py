"""orders with several parcels and before shipping: order-level notifications, announced date, window

Revision ID: parcels_1
Revises: operator_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "parcels_1"
down_revision = "operator_1"
branch_labels = None
depends_on = None

ORDER_LEVEL = sa.text("shipment_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("announced_delivery", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("delivery_window", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("shipment_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index("uq_notification_order_once", ["order_id", "milestone", "channel"], unique=True,
                              sqlite_where=ORDER_LEVEL, postgresql_where=ORDER_LEVEL)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("uq_notification_order_once")
    op.execute("DELETE FROM notifications WHERE shipment_id IS NULL")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("shipment_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_column("delivery_window")
        batch_op.drop_column("announced_delivery")
