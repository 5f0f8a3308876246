"""carrier_codes: unknown carrier status codes, counted per carrier

Revision ID: detect_1
Revises: channels_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tracker.models

revision = "detect_1"
down_revision = "channels_1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "carrier_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("carrier", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", tracker.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("carrier", "code", name="uq_carrier_code"),
    )


def downgrade() -> None:
    op.drop_table("carrier_codes")
