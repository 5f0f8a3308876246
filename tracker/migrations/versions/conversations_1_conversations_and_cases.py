"""conversations: what customers write to us, our answers, and the cases support answers

Revision ID: conversations_1
Revises: exactly_1
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tracker.models

revision = "conversations_1"
down_revision = "scale_1"
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString
T = tracker.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", S(length=16), nullable=False),
        sa.Column("address", S(length=254), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("locale", S(length=16), nullable=False),
        sa.Column("created_at", T(timezone=True), nullable=False),
        sa.Column("last_inbound_at", T(timezone=True), nullable=True),
        sa.Column("erased_at", T(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "address", name="uq_conversation_sender"),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversations_order_id"), ["order_id"], unique=False)
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("shipment_id", sa.Integer(), nullable=True),
        sa.Column("reason", S(length=32), nullable=False),
        sa.Column("source", S(length=32), nullable=False),
        sa.Column("state", S(length=8), nullable=False),
        sa.Column("summary", S(), nullable=False),
        sa.Column("opened_at", T(timezone=True), nullable=False),
        sa.Column("told_at", T(timezone=True), nullable=True),
        sa.Column("first_answer_at", T(timezone=True), nullable=True),
        sa.Column("first_answer_seconds", sa.Integer(), nullable=True),
        sa.Column("closed_at", T(timezone=True), nullable=True),
        sa.Column("closed_by", S(length=80), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.ForeignKeyConstraint(["shipment_id"], ["shipments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_state_opened", ["state", "opened_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_shipment_id"), ["shipment_id"], unique=False)
    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("direction", S(length=4), nullable=False),
        sa.Column("author", S(length=80), nullable=False),
        sa.Column("kind", S(length=32), nullable=False),
        sa.Column("body", S(), nullable=False),
        sa.Column("subject", S(length=300), nullable=True),
        sa.Column("provider_id", S(length=255), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("created_at", T(timezone=True), nullable=False),
        sa.Column("state", S(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", T(timezone=True), nullable=True),
        sa.Column("leased_until", T(timezone=True), nullable=True),
        sa.Column("error", S(), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.create_index("ix_conversation_messages_conv", ["conversation_id", "created_at"], unique=False)
        batch_op.create_index("ix_conversation_messages_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_conversation_messages_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conversation_messages_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conversation_messages_notification_id"), ["notification_id"],
                              unique=False)


def downgrade() -> None:
    op.drop_table("conversation_messages")
    op.drop_table("cases")
    op.drop_table("conversations")
