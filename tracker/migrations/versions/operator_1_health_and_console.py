"""carrier health kept in the database, shop resource versions, support login throttle and logouts

Revision ID: operator_1
Revises: detect_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tracker.models

revision = "operator_1"
down_revision = "detect_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("carrier_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_try_at", tracker.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("carrier_states", schema=None) as batch_op:
        batch_op.alter_column("failures", server_default=None)

    op.create_table(
        "shop_resources",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("resource_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("updated_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "resource_id"),
    )
    op.create_table(
        "support_login_throttles",
        sa.Column("user", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_start", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_success_at", tracker.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("user", "source"),
    )
    with op.batch_alter_table("support_login_throttles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_login_throttles_window_start"), ["window_start"], unique=False)
    op.create_table(
        "support_sessions_revoked",
        sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    with op.batch_alter_table("support_sessions_revoked", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_sessions_revoked_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("support_sessions_revoked")
    op.drop_table("support_login_throttles")
    op.drop_table("shop_resources")
    with op.batch_alter_table("carrier_states", schema=None) as batch_op:
        batch_op.drop_column("next_try_at")
        batch_op.drop_column("failures")
