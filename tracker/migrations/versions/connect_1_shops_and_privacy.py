"""connect: the shop's order status page and cancellation on orders; privacy requests kept for audit

Revision ID: connect_1
Revises: release_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tracker.models

revision = "connect_1"
down_revision = "release_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_url", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", tracker.models.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("via", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("subject_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("result", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("requested_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", tracker.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_requests_subject_hash"), ["subject_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_requests_subject_hash"))
    op.drop_table("privacy_requests")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("status_url")
