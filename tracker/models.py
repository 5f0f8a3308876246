"""SQLModel tables. Times are aware UTC in Python; SQLite stores them naive-UTC, PostgreSQL as timestamptz."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timezone

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator):
    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _ts(nullable: bool = True, index: bool = False) -> sa.Column:
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        # /metrics counts the orders with a contact problem: only those rows are in this index
        sa.Index("ix_orders_contact_problem", "id", sqlite_where=sa.text("contact_problem IS NOT NULL"),
                 postgresql_where=sa.text("contact_problem IS NOT NULL")),
        sa.Index("ix_orders_unshipped", "created_at", sqlite_where=sa.text("first_parcel_at IS NULL"),
                 postgresql_where=sa.text("first_parcel_at IS NULL")),
        # the contact erasure reads only orders not erased yet, oldest first
        sa.Index("ix_orders_unerased", "created_at", sqlite_where=sa.text("erased_at IS NULL"),
                 postgresql_where=sa.text("erased_at IS NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=64, unique=True, index=True)
    email: str | None = Field(default=None, max_length=254, index=True)
    # lower(email), written with it: support searches emails case-folded through this column's index
    email_folded: str | None = Field(default=None, max_length=254, index=True)
    phone: str | None = Field(default=None, max_length=20, index=True)
    locale: str = Field(default="en", max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    channels: str = Field(default="sms,email", max_length=32)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    erased_at: datetime | None = Field(default=None, sa_column=_ts())
    # The shop's own order status page (Shopify's order_status_url), linked instead of tracker's page when
    # shopify.message_link says so.
    status_url: str | None = Field(default=None, max_length=1000)
    cancelled_at: datetime | None = Field(default=None, sa_column=_ts())  # the shop cancelled the order
    # The order's page before it ships (/o/<token>, tracker/web/order_page.py): 24 random bytes.
    public_token: str | None = Field(default_factory=lambda: secrets.token_urlsafe(24), max_length=43, unique=True,
                                     index=True)
    # Why a contact detail the shop sent could not be used (masked), e.g. a phone in no plan of the
    # customer's country: the order went on with the channels that work; support sees this.
    contact_problem: str | None = Field(default=None, max_length=300)
    # When the order's first parcel was registered, as the still-preparing watcher last found (it sets it): the
    # orders left without one are the few that sweep reads (ix_orders_unshipped).
    first_parcel_at: datetime | None = Field(default=None, sa_column=_ts())

    @property
    def channel_list(self) -> list[str]:
        return [c for c in self.channels.split(",") if c]


# A shipment whose carrier moved the expected date away from the one the customer knows (watch.date_moved).
MOVED = ("expected_delivery IS NOT NULL AND "
         "expected_delivery <> coalesce(announced_delivery, first_expected_delivery)")


SILENCE_UNWATCHED = "silence_due_at IS NULL"
LATE_UNWATCHED = "late_due_at IS NULL"


class Shipment(SQLModel, table=True):
    __tablename__ = "shipments"
    __table_args__ = (
        sa.UniqueConstraint("carrier", "tracking_number", name="uq_shipment_carrier_number"),
        # Every hot query walks an index in the order it needs (docs/benchmarks.md has the plans at 1M):
        # the poller's claim (per source, by due time; urgent ones by status too), and the watchers' sweeps
        # (quiet since, first expected date, delivery time, a moved date not yet told).
        sa.Index("ix_shipments_claim", "source", "next_check_at"),
        sa.Index("ix_shipments_claim_urgent", "source", "status", "next_check_at"),
        sa.Index("ix_shipments_quiet", "status", "last_event_at", "created_at"),
        sa.Index("ix_shipments_late", "status", "first_expected_delivery"),
        sa.Index("ix_shipments_delivered", "status", "delivered_at"),
        sa.Index("ix_shipments_date_moved", "status", sqlite_where=sa.text(MOVED), postgresql_where=sa.text(MOVED)),
        # the silence and late sweeps: shipments not looked at since their last news (the ranges above, only
        # those rows) and those looked at whose next look is due (by that time)
        sa.Index("ix_shipments_quiet_unwatched", "status", "last_event_at", "created_at",
                 sqlite_where=sa.text(SILENCE_UNWATCHED), postgresql_where=sa.text(SILENCE_UNWATCHED)),
        sa.Index("ix_shipments_silence_due", "silence_due_at"),
        sa.Index("ix_shipments_late_unwatched", "status", "first_expected_delivery",
                 sqlite_where=sa.text(LATE_UNWATCHED), postgresql_where=sa.text(LATE_UNWATCHED)),
        sa.Index("ix_shipments_late_due", "late_due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    carrier: str = Field(max_length=32)
    # Who tells us about it: the carrier's own module, an aggregator (17track...) (tracker/routing.py).
    source: str = Field(default="", max_length=32, index=True)
    tracking_number: str = Field(max_length=64, index=True)
    status: str = Field(default="pending", max_length=24, index=True)
    status_at: datetime | None = Field(default=None, sa_column=_ts())
    last_event_at: datetime | None = Field(default=None, sa_column=_ts())
    expected_delivery: date | None = None
    first_expected_delivery: date | None = None
    signed_by: str | None = Field(default=None, max_length=128)
    pickup_location: str | None = Field(default=None, max_length=256)
    pickup_until: date | None = None
    # The expected date the customer was last told of a change (watch.date_moved); None: not told of one.
    announced_delivery: date | None = None
    # Local delivery time window the carrier gives with out for delivery, "HH:MM-HH:MM".
    delivery_window: str | None = Field(default=None, max_length=16)
    delivered_at: datetime | None = Field(default=None, sa_column=_ts())
    next_check_at: datetime | None = Field(default=None, sa_column=_ts(index=True))
    leased_until: datetime | None = Field(default=None, sa_column=_ts())
    lease_owner: str | None = Field(default=None, max_length=64)
    failures: int = 0
    last_error: str | None = None
    last_checked_at: datetime | None = Field(default=None, sa_column=_ts())
    # Last sign of life of the push source for this shipment (subscription accepted, push received).
    push_heard_at: datetime | None = Field(default=None, sa_column=_ts())
    # Set when someone stops tracking (API or support console): no more checks, and status says why.
    stopped_at: datetime | None = Field(default=None, sa_column=_ts())
    stopped_by: str | None = Field(default=None, max_length=64)
    # When the silence / late sweep looks at this shipment again, as it last decided (None: not looked at
    # since its last news; the poller clears both whenever status, last event or dates change)
    silence_due_at: datetime | None = Field(default=None, sa_column=_ts())
    late_due_at: datetime | None = Field(default=None, sa_column=_ts())
    public_token: str = Field(max_length=43, unique=True)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    updated_at: datetime = Field(sa_column=_ts(nullable=False))
    # The carrier as the shop named it (what the customer reads), when it differs from `carrier`'s name
    carrier_name: str | None = Field(default=None, max_length=64)
    # The shop's own tracking link: linked for a parcel no source can track (status not_trackable)
    tracking_url: str | None = Field(default=None, max_length=1000)


class TrackingEventRow(SQLModel, table=True):
    __tablename__ = "tracking_events"
    __table_args__ = (sa.UniqueConstraint("shipment_id", "key", name="uq_event_shipment_key"),)
    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipments.id", index=True)
    key: str = Field(max_length=40)
    occurred_at: datetime = Field(sa_column=_ts(nullable=False))
    utc_offset_minutes: int | None = None
    status: str = Field(max_length=24)
    raw_code: str = Field(max_length=64)
    raw_text: str = ""
    location: str = ""
    recorded_at: datetime = Field(sa_column=_ts(nullable=False))


class Notification(SQLModel, table=True):
    """The outbox. One row per (shipment, milestone, channel), written with the event that causes it.
    News about an order before it has any parcel ("we are still preparing it") has no shipment: one row
    per (order, milestone, channel) then.

    queued -> sending -> sent -> delivered | failed | suppressed | deferred

    `handed_at` and `body_digest` are committed just before a message is handed to its provider. A row
    found in `sending` after its lease (its daemon died) or answered ambiguously (timeout, 5xx) with
    `handed_at` set is *in doubt* (`doubt`): the provider may have it. An in-doubt SMS is looked up at
    Twilio by `body_digest` before it is sent again; `doubt` then says how it ended ("found", "absent",
    or "resent" where the provider offers no lookup, as for SendGrid; `resent_in_doubt` counts those).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        sa.UniqueConstraint("shipment_id", "milestone", "channel", name="uq_notification_once"),
        sa.Index("uq_notification_order_once", "order_id", "milestone", "channel", unique=True,
                 sqlite_where=sa.text("shipment_id IS NULL"), postgresql_where=sa.text("shipment_id IS NULL")),
        sa.Index("ix_notifications_due", "state", "next_attempt_at"),
        sa.Index("ix_notifications_sent_at", "sent_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int | None = Field(default=None, foreign_key="shipments.id", index=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    milestone: str = Field(max_length=32)
    channel: str = Field(max_length=16)
    state: str = Field(default="queued", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_ts())
    leased_until: datetime | None = Field(default=None, sa_column=_ts())
    lease_owner: str | None = Field(default=None, max_length=64)
    provider: str | None = Field(default=None, max_length=32)
    provider_id: str | None = Field(default=None, max_length=128, index=True)
    error: str | None = None
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    updated_at: datetime = Field(sa_column=_ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts())
    delivered_at: datetime | None = Field(default=None, sa_column=_ts())
    handed_at: datetime | None = Field(default=None, sa_column=_ts())
    body_digest: str | None = Field(default=None, max_length=64)
    doubt: str | None = Field(default=None, max_length=16)
    resent_in_doubt: int = 0  # times sent again while an earlier attempt may have reached the provider
    # Freshness (tracker/freshness.py): when the carrier's event happened, and when and how (poll, push)
    # tracker heard of it; `sent_at` says when the provider took the message.
    event_at: datetime | None = Field(default=None, sa_column=_ts())
    heard_at: datetime | None = Field(default=None, sa_column=_ts())
    heard_via: str | None = Field(default=None, max_length=8)


class Suppression(SQLModel, table=True):
    """An address that must not be messaged again on a channel (STOP, bounce, unsubscribe)."""

    __tablename__ = "suppressions"
    __table_args__ = (sa.UniqueConstraint("channel", "address", name="uq_suppression"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=254)
    reason: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_ts(nullable=False))


class Alert(SQLModel, table=True):
    """Something support must look at. Raised once per key (shipment or carrier, and cause)."""

    __tablename__ = "alerts"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, unique=True)
    shipment_id: int | None = Field(default=None, foreign_key="shipments.id", index=True)
    carrier: str | None = Field(default=None, max_length=32)
    cause: str = Field(max_length=32)
    message: str
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    acked_at: datetime | None = Field(default=None, sa_column=_ts())
    acked_by: str | None = Field(default=None, max_length=64)
    # Delivery to the support channels (support_alerts:), retried until done or given up.
    emailed_at: datetime | None = Field(default=None, sa_column=_ts())
    posted_at: datetime | None = Field(default=None, sa_column=_ts())
    notify_attempts: int = 0
    notify_after: datetime | None = Field(default=None, sa_column=_ts())
    notify_error: str | None = None


class CarrierState(SQLModel, table=True):
    """Per-carrier health shared by every daemon: paused after an auth failure, calls spent today."""

    __tablename__ = "carrier_states"
    carrier: str = Field(primary_key=True, max_length=32)
    paused_until: datetime | None = Field(default=None, sa_column=_ts())
    paused_reason: str | None = None
    failing_since: datetime | None = Field(default=None, sa_column=_ts())
    failures: int = 0  # failed calls in a row, by every daemon
    last_error: str | None = None
    next_try_at: datetime | None = Field(default=None, sa_column=_ts())  # after a pause or a rate limit
    budget_day: date | None = None
    calls_today: int = 0
    # The carrier's per-second rate shared by every daemon: the wall-clock time (Unix seconds) of the next
    # free request slot (tracker/rate.py).
    next_slot_at: float | None = None
    updated_at: datetime = Field(sa_column=_ts(nullable=False))


class CarrierCode(SQLModel, table=True):
    """A status code a carrier (the source that parsed it) sent that tracker does not know: counted, listed in
    `tracker status --carriers` and /metrics, one support alert when it first appears."""

    __tablename__ = "carrier_codes"
    __table_args__ = (sa.UniqueConstraint("carrier", "code", name="uq_carrier_code"),)
    id: int | None = Field(default=None, primary_key=True)
    carrier: str = Field(max_length=32)
    code: str = Field(max_length=64)
    text: str = ""
    count: int = 0
    first_seen_at: datetime = Field(sa_column=_ts(nullable=False))
    last_seen_at: datetime = Field(sa_column=_ts(nullable=False))


class SourceSubscription(SQLModel, table=True):
    """A shipment's subscription to its source's pushes, worked like an outbox: registered, renewed before
    it lapses, stopped when the parcel is finished; failures retried with backoff.

    pending -> active -> stopping -> stopped; failed (refused for good: polling carries on)
    """

    __tablename__ = "source_subscriptions"
    __table_args__ = (
        sa.UniqueConstraint("shipment_id", "source", name="uq_subscription_shipment_source"),
        sa.Index("ix_source_subscriptions_due", "state", "next_try_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipments.id")
    source: str = Field(max_length=32)
    tracking_number: str = Field(max_length=64, index=True)
    carrier: str = Field(max_length=32)
    state: str = Field(default="pending", max_length=16)
    carrier_code: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    next_try_at: datetime | None = Field(default=None, sa_column=_ts())
    error: str | None = None
    subscribed_at: datetime | None = Field(default=None, sa_column=_ts())
    expires_at: datetime | None = Field(default=None, sa_column=_ts())
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    updated_at: datetime = Field(sa_column=_ts(nullable=False))


class SourceState(SQLModel, table=True):
    """Per push source, shared by every daemon: registration quota left, and the trouble of the moment."""

    __tablename__ = "source_states"
    source: str = Field(primary_key=True, max_length=32)
    quota_remaining: int | None = None
    quota_total: int | None = None
    quota_checked_at: datetime | None = Field(default=None, sa_column=_ts())
    failing_since: datetime | None = Field(default=None, sa_column=_ts())
    failures: int = 0
    last_error: str | None = None
    pushes_unmatched: int = 0
    updated_at: datetime = Field(sa_column=_ts(nullable=False))
    # the source said "not before" (429 Retry-After, quota): no daemon calls it until then
    cooldown_until: datetime | None = Field(default=None, sa_column=_ts())


class DuplicateSend(SQLModel, table=True):
    """A second provider message seen for one notification (a send outcome for a row already sent, a
    status callback or event naming another message): a duplicate the customer got, counted in /metrics."""

    __tablename__ = "duplicate_sends"
    __table_args__ = (sa.UniqueConstraint("notification_id", "provider_id", name="uq_duplicate_send"),)
    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(index=True)
    channel: str = Field(max_length=16)
    provider_id: str = Field(max_length=128)
    seen_by: str = Field(max_length=32)  # "outcome", "twilio-status", "sendgrid-event"
    seen_at: datetime = Field(sa_column=_ts(nullable=False))


class PushInbox(SQLModel, table=True):
    """Verified pushes, stored before they are answered 200 and applied behind (tracker/inbox/).

    pending -> applied | failed. `key` (the first tracking number) keeps one shipment's pushes in order
    across daemons: a row is taken only when no earlier row of its key is still pending."""

    __tablename__ = "push_inbox"
    __table_args__ = (
        sa.UniqueConstraint("source", "event_id", name="uq_push_inbox_event"),
        sa.Index("ix_push_inbox_due", "state", "next_try_at"),
        sa.Index("ix_push_inbox_key", "key", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    event_id: str = Field(max_length=128)
    key: str = Field(max_length=128)
    body: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_try_at: datetime = Field(sa_column=_ts(nullable=False))
    lease_owner: str | None = Field(default=None, max_length=64)
    leased_until: datetime | None = Field(default=None, sa_column=_ts())
    error: str | None = None
    received_at: datetime = Field(sa_column=_ts(nullable=False))
    applied_at: datetime | None = Field(default=None, sa_column=_ts())


class WebhookEvent(SQLModel, table=True):
    """Provider and shop webhook ids already applied: each event is applied once."""

    __tablename__ = "webhook_events"
    __table_args__ = (sa.UniqueConstraint("source", "event_id", name="uq_webhook_event"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    event_id: str = Field(max_length=128)
    received_at: datetime = Field(sa_column=_ts(nullable=False))


class ShopResource(SQLModel, table=True):
    """The newest state of a shop's resource (a Shopify fulfillment, a WooCommerce order) applied so far, by
    the update time inside the signed body: a replay or an older state is never applied again."""

    __tablename__ = "shop_resources"
    source: str = Field(primary_key=True, max_length=32)
    resource_id: str = Field(primary_key=True, max_length=64)
    updated_at: datetime = Field(sa_column=_ts(nullable=False))
    received_at: datetime = Field(sa_column=_ts(nullable=False))


class SupportLoginThrottle(SQLModel, table=True):
    """Support console login attempts per user name and source address (source "*": from anywhere),
    counted before the password is checked, in a window that starts with the first attempt."""

    __tablename__ = "support_login_throttles"
    user: str = Field(primary_key=True, max_length=64)
    source: str = Field(primary_key=True, max_length=64)
    attempts: int = 0
    window_start: datetime = Field(sa_column=_ts(nullable=False, index=True))
    last_success_at: datetime | None = Field(default=None, sa_column=_ts())


class SupportSessionRevoked(SQLModel, table=True):
    """Support console sessions ended by logging out, until they would have expired anyway."""

    __tablename__ = "support_sessions_revoked"
    sid: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=_ts(nullable=False, index=True))


class Rating(SQLModel, table=True):
    """The customer's answer to the follow-up after delivery: one per shipment (single-use links)."""

    __tablename__ = "ratings"
    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipments.id", unique=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    score: int
    comment: str | None = None
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    commented_at: datetime | None = Field(default=None, sa_column=_ts())


class ApiKey(SQLModel, table=True):
    """A bearer key for the HTTP API. Only the SHA-256 of the key is stored; the key is shown once."""

    __tablename__ = "api_keys"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=_ts())
    revoked_at: datetime | None = Field(default=None, sa_column=_ts())


class WhatsAppSession(SQLModel, table=True):
    """When a customer last wrote to us on WhatsApp: for 24 hours after it, free-form text may go out;
    otherwise only approved templates (ContentSid) may open the conversation."""

    __tablename__ = "whatsapp_sessions"
    phone: str = Field(primary_key=True, max_length=20)
    last_inbound_at: datetime = Field(sa_column=_ts(nullable=False))


class PreferenceChange(SQLModel, table=True):
    """A change the customer made to how they hear from us (preferences page, one-click unsubscribe,
    STOP/START reply), kept for support."""

    __tablename__ = "preference_changes"
    id: int | None = Field(default=None, primary_key=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    source: str = Field(max_length=32)
    change: str
    created_at: datetime = Field(sa_column=_ts(nullable=False))


class AppSecret(SQLModel, table=True):
    """Values made once per database and shared by every daemon on it (e.g. the key signing preference
    links when preferences.secret is left empty; the fingerprint of the routes last applied, reroute.py)."""

    __tablename__ = "app_secrets"
    name: str = Field(primary_key=True, max_length=32)
    value: str = Field(max_length=128)
    created_at: datetime = Field(sa_column=_ts(nullable=False))


class PrivacyRequest(SQLModel, table=True):
    """An access or erasure request about one person (or, for Shopify's shop/redact, a whole shop), kept
    for audit: who asked, how, when, what was done. The person is kept only as a keyed hash of the email
    or phone given (tracker/privacy/requests.py), so the record proves a request was handled without keeping
    the data it erased."""

    __tablename__ = "privacy_requests"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # export | erase | shop_erase | data_request
    via: str = Field(max_length=64)  # cli, shopify customers/redact, ...
    requested_by: str = Field(max_length=64)  # the operator's user name, or the shop's domain
    subject_hash: str | None = Field(default=None, max_length=64, index=True)
    reference: str | None = Field(default=None, max_length=128)  # the platform's own ids (no contact data)
    state: str = Field(max_length=16)  # done | nothing_found | to_answer
    orders: int = 0
    result: str = ""  # what was done, counted
    requested_at: datetime = Field(sa_column=_ts(nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=_ts())


class SchemaHistory(SQLModel, table=True):
    """One row per migration applied (from release_1 on): which tracker version applied it and when, so that
    an older release can say which one a database needs (tracker/schema.py)."""

    __tablename__ = "schema_history"
    id: int | None = Field(default=None, primary_key=True)
    revision: str = Field(max_length=32)
    tracker_version: str = Field(max_length=64)
    applied_at: datetime = Field(sa_column=_ts(nullable=False))


class Conversation(SQLModel, table=True):
    """Everything one sender wrote to us on one channel, and what was answered (tracker/conversations/).
    `address` is the sender's phone (E.164) or email; None once erased."""

    __tablename__ = "conversations"
    __table_args__ = (sa.UniqueConstraint("channel", "address", name="uq_conversation_sender"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)  # sms | whatsapp | email
    address: str | None = Field(default=None, max_length=254)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)  # the order it is about
    locale: str = Field(default="en", max_length=16)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    last_inbound_at: datetime | None = Field(default=None, sa_column=_ts())
    erased_at: datetime | None = Field(default=None, sa_column=_ts())


class ConversationMessage(SQLModel, table=True):
    """One message of a conversation: the customer's (direction "in", text sanitized) or ours ("out": an
    automatic answer or support's, sent through the outbox as notification `notification_id`)."""

    __tablename__ = "conversation_messages"
    __table_args__ = (sa.Index("ix_conversation_messages_conv", "conversation_id", "created_at"),
                      sa.Index("ix_conversation_messages_due", "state", "next_attempt_at"))
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id")
    direction: str = Field(max_length=4)  # in | out
    author: str = Field(max_length=80)  # customer | auto | support:<name>
    kind: str = Field(default="", max_length=32)  # what it was understood as / what the answer is
    body: str = ""
    subject: str | None = Field(default=None, max_length=300)
    provider_id: str | None = Field(default=None, max_length=255)  # MessageSid, email Message-ID
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    case_id: int | None = Field(default=None, index=True)
    notification_id: int | None = Field(default=None, index=True)
    answered: bool = False  # an inbound message that got an automatic answer
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    # An answer to a sender matched to no order cannot use the order outbox: it is sent from here
    # (replies.DirectSender): queued -> sending -> sent | failed. None for everything else.
    state: str | None = Field(default=None, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_ts())
    leased_until: datetime | None = Field(default=None, sa_column=_ts())
    error: str | None = None


class Case(SQLModel, table=True):
    """Something a person must answer: opened from a customer's message or a page's "report a problem";
    one support alert when opened; closed by support."""

    __tablename__ = "cases"
    __table_args__ = (sa.Index("ix_cases_state_opened", "state", "opened_at"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id", index=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    shipment_id: int | None = Field(default=None, foreign_key="shipments.id", index=True)
    reason: str = Field(max_length=32)  # not_received | damaged | wrong_item | cancel | address_change | ...
    source: str = Field(default="message", max_length=32)  # message | page | api
    state: str = Field(default="open", max_length=8)  # open | closed
    summary: str = ""
    opened_at: datetime = Field(sa_column=_ts(nullable=False))
    told_at: datetime | None = Field(default=None, sa_column=_ts())  # the customer was told a person answers
    first_answer_at: datetime | None = Field(default=None, sa_column=_ts())
    first_answer_seconds: int | None = None
    closed_at: datetime | None = Field(default=None, sa_column=_ts())
    closed_by: str | None = Field(default=None, max_length=80)
