"""config.yaml -> validated settings.

Secrets come from the environment: any string value may hold `${NAME}` or `${NAME:-default}`.
Every problem is reported as one line naming the key, its line in the file and the fix.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tracker import plaintext, redact

DEFAULT_CONFIG = Path(__file__).with_name("default_config.yaml")
ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """Config problems, already phrased for the operator: key, line, fix; one line each, all at once."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Strict):
    url: str = "sqlite:///tracker.db"
    auto_upgrade: bool = True
    schema_check_seconds: float = Field(15, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        if not v.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("use sqlite:///PATH or postgresql://USER@HOST/DB")
        return v


class ServerSettings(_Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    header_timeout_seconds: float = Field(10, gt=0, le=300)
    body_timeout_seconds: float = Field(30, gt=0, le=600)
    max_connections: int = Field(4096, ge=16, le=1_000_000)
    # /metrics on a large database: its gauges are read in the background at most this often, a scrape
    # serves the last values with their age (tracker_gauges_age_seconds)
    metrics_cache_seconds: float = Field(30, ge=0, le=3600)
    # ... once the database holds this many shipments or notifications; below, every scrape reads them
    metrics_cache_above_rows: int = Field(100_000, ge=0)


HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?")


def _empty_or_matching(value: str, pattern: str, problem: str) -> str:
    value = value.strip()
    if value and not re.fullmatch(pattern, value):
        raise ValueError(f"{value!r} {problem}")
    return value


def _plain_text(v: str) -> str:
    if bad := plaintext.problem(v):
        raise ValueError(f"{bad}; {plaintext.FIX}")
    return v


class ShopColors(_Strict):
    """The shop's colours on the email layout and the tracking page (#rrggbb)."""

    primary: str = "#1f6feb"  # buttons, links, the progress bar
    on_primary: str = "#ffffff"  # text on buttons
    background: str = "#f6f7f9"  # behind the cards

    @field_validator("primary", "on_primary", "background")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not HEX_COLOR.fullmatch(str(v).strip()):
            raise ValueError(f"{v!r} is not a colour; write it as #rrggbb, for example \"#1f6feb\"")
        return str(v).strip().lower()


class SupportContact(_Strict):
    """How customers of one language reach the shop; what is left empty comes from shop.support_email
    and shop.support_phone."""

    email: str = ""
    phone: str = ""
    hours: str = Field("", description="opening hours as the customer should read them, e.g. Mon-Fri 9-18")

    @field_validator("email", "phone", "hours", mode="before")
    @classmethod
    def _plain(cls, v):  # shown in messages and on the tracking page
        return _plain_text(v) if isinstance(v, str) else v

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        return _empty_or_matching(v, r"[^@\s]+@[^@\s]+\.[^@\s]+",
                                  "is not an email address; write it like support@yourshop.example")


class ShopSettings(_Strict):
    name: str = "Demo Shop"
    support_email: str = "support@example.com"
    support_phone: str = ""
    sender_name: str = Field("", description="the From name of emails; empty: shop.name")
    logo_url: str = Field("", description="https:// address of the logo on emails and the tracking page")
    colors: ShopColors = ShopColors()
    support: dict[str, SupportContact] = Field({}, description="support contact per language, e.g. pt-BR")
    timezone: str = "UTC"
    default_locale: str = "en"
    default_channels: list[Literal["whatsapp", "sms", "email"]] = ["sms", "email"]
    default_region: str = Field("US", description="phone numbers without +country are read in this region")

    @field_validator("name", "support_email", "support_phone", "sender_name")
    @classmethod
    def _plain(cls, v: str) -> str:  # shown in every SMS, subject and log line
        return _plain_text(v)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Europe/Lisbon") from None
        return v

    @field_validator("logo_url")
    @classmethod
    def _logo(cls, v: str) -> str:
        return _empty_or_matching(v, r"https?://[^\s\"'<>]+",
                                  "is not a web address; give the logo as https://yourshop.example/logo.png")

    @field_validator("support")
    @classmethod
    def _support_tags(cls, v: dict[str, SupportContact]) -> dict[str, SupportContact]:
        for tag in v:
            if not LANGUAGE_TAG.fullmatch(str(tag)):
                raise ValueError(f"{tag!r} is not a language tag; write it like pt-BR, es or el")
        return {str(tag).replace("_", "-"): c for tag, c in v.items()}

    def contact(self, locale: str | None) -> SupportContact:
        """The support contact for a customer in `locale` (pt-BR, then pt, then the shop-wide one)."""
        tag = (locale or "").replace("_", "-")
        own = self.support.get(tag) or self.support.get(tag.split("-")[0]) or SupportContact()
        return SupportContact(email=own.email or self.support_email, phone=own.phone or self.support_phone,
                              hours=own.hours)


class Intervals(_Strict):
    """Seconds between two checks of a shipment, by its status. Delivered and expired: never."""

    pending: float = Field(6 * 3600, gt=0)
    info_received: float = Field(4 * 3600, gt=0)
    in_transit: float = Field(3 * 3600, gt=0)
    out_for_delivery: float = Field(30 * 60, gt=0)
    available_for_pickup: float = Field(6 * 3600, gt=0)
    failed_attempt: float = Field(2 * 3600, gt=0)
    exception: float = Field(4 * 3600, gt=0)


class PollerSettings(_Strict):
    tick_seconds: float = Field(2, gt=0)
    claim_batch: int = Field(500, ge=1)
    lease_seconds: float = Field(120, gt=0)
    concurrency: int = Field(8, ge=1)
    jitter: float = Field(0.1, ge=0, le=0.5)
    first_check_seconds: float = Field(0, ge=0)
    batch_fill_seconds: float = Field(900, ge=0)
    backoff_max_seconds: float = Field(24 * 3600, gt=0)
    expire_after_days: float = Field(30, gt=0)
    intervals: Intervals = Intervals()
    # Journey-aware polling (tracker/schedule.py, docs/polling.md), in the order's time zone, else `timezone`.
    adaptive: bool = True
    delivery_window: str = Field("07:00-21:00", description="local hours when parcels move to the door: HH:MM-HH:MM")
    near_eta_interval: float = Field(15 * 60, gt=0)
    far_interval: float = Field(8 * 3600, gt=0)
    far_from_eta_days: int = Field(2, ge=1)
    typical_transit_days: float = Field(3, gt=0)
    near_eta_until: str | None = Field("13:00", description="HH:MM local: past it, near-ETA checks slow to the status interval")
    pickup_interval: float | None = Field(90 * 60, gt=0, description="seconds between checks while the label is created")
    # A number the carrier does not know yet (pending, "not found") is about to be picked up for this long
    # after its registration: checked every pickup_interval meanwhile. Unset: the shop's handling time
    # (watch.handling_hours) and a day, 72 h when that is off (Settings fills it in)
    pickup_expected_hours: float | None = Field(None, ge=0)
    timezone: str | None = Field(None, description="unset: shop.timezone")

    @field_validator("delivery_window")
    @classmethod
    def _window(cls, v: str) -> str:
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", v)
        if not m:
            raise ValueError("write the local delivery hours as HH:MM-HH:MM, e.g. 07:00-21:00")
        h1, m1, h2, m2 = (int(x) for x in m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or end <= start:
            raise ValueError("the window must start before it ends, within one day (00:00-24:00 at most)")
        return v.strip()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else ShopSettings._tz(v)

    @field_validator("near_eta_until")
    @classmethod
    def _until(cls, v: str | None) -> str | None:
        return None if v is None else QuietHoursSettings._hhmm(v)


class DispatcherSettings(_Strict):
    tick_seconds: float = Field(1, gt=0)
    claim_batch: int = Field(200, ge=1)
    lease_seconds: float = Field(60, gt=0)
    concurrency: int = Field(32, ge=1)
    max_attempts: int = Field(10, ge=1)
    backoff_base_seconds: float = Field(30, gt=0)
    backoff_max_seconds: float = Field(3600, gt=0)
    shutdown_grace_seconds: float = Field(10, ge=0)
    email_doubt_wait_seconds: float = Field(180, ge=0)


class ChannelRoute(_Strict):
    provider: str


class ChannelsSettings(_Strict):
    sms: ChannelRoute = ChannelRoute(provider="console")
    email: ChannelRoute = ChannelRoute(provider="console")
    whatsapp: ChannelRoute | None = None  # e.g. {provider: twilio_whatsapp}; unset: no WhatsApp


class QuietHoursSettings(_Strict):
    """No SMS outside the recipient's local day: it waits for the morning, it is never dropped."""

    enabled: bool = True
    start: str = "21:00"
    end: str = "08:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(v).strip())
        if not m:
            raise ValueError(f"{v!r} is not a time of day; write HH:MM such as 21:00")
        return f"{int(m.group(1)):02d}:{m.group(2)}"


class SmsSettings(_Strict):
    max_segments: int = Field(2, ge=1, le=10)
    # Accented Latin and Greek travel as UCS-2 (67 characters a segment), so those locales get more room.
    max_segments_by_locale: dict[str, int] = {"pt-BR": 3, "es": 3, "el": 3}

    @field_validator("max_segments_by_locale")
    @classmethod
    def _budgets(cls, v: dict[str, int]) -> dict[str, int]:
        out = {}
        for tag, n in v.items():
            if not LANGUAGE_TAG.fullmatch(str(tag)):
                raise ValueError(f"{tag!r} is not a language tag; write it like pt-BR, es or el")
            if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
                raise ValueError(f"{tag}: {n!r} segments; give a whole number from 1 to 10")
            out[str(tag).replace("_", "-")] = n
        return out

    def budget(self, locale: str | None) -> int:
        """Segments an SMS in `locale` may take: its own entry, its language's, else max_segments."""
        tag = (locale or "").replace("_", "-")
        return self.max_segments_by_locale.get(tag) or self.max_segments_by_locale.get(tag.split("-")[0]) \
            or self.max_segments


class TemplatesSettings(_Strict):
    override_dir: str | None = None


class LoggingSettings(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"  # json: one object per line, for a log collector


class SilenceHours(_Strict):
    """Hours without a carrier event (or since registration, when there is none) before a shipment in this
    status counts as silent. null: never for that status."""

    pending: float | None = Field(120, gt=0)
    info_received: float | None = Field(72, gt=0)
    in_transit: float | None = Field(72, gt=0)
    out_for_delivery: float | None = Field(24, gt=0)
    failed_attempt: float | None = Field(72, gt=0)
    available_for_pickup: float | None = Field(None, gt=0)
    exception: float | None = Field(None, gt=0)


class WatchSettings(_Strict):
    tick_seconds: float = Field(300, gt=0)
    silence_hours: SilenceHours = SilenceHours()
    silent_repeat_hours: float = Field(72, gt=0)
    late: bool = True
    expire_after_days: float = Field(30, gt=0)
    handling_hours: float | None = Field(48, gt=0)
    preparing_repeat_hours: float = Field(48, gt=0)
    date_moved: bool = True
    date_moved_repeat_hours: float = Field(12, ge=0)


class SupportAlertsSettings(_Strict):
    email: str | None = None
    webhook_url: str | None = None
    tick_seconds: float = Field(30, gt=0)
    max_attempts: int = Field(10, ge=1)
    backoff_base_seconds: float = Field(60, gt=0)
    backoff_max_seconds: float = Field(3600, gt=0)

    @field_validator("email", "webhook_url")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("use an http:// or https:// address")
        return v


class FollowUpSettings(_Strict):
    enabled: bool = False
    days_after_delivery: float = Field(3, ge=0)
    secret: str = ""
    low_rating: int = Field(2, ge=1, le=5)

    @field_validator("secret")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    @model_validator(mode="after")
    def _secret_when_enabled(self) -> "FollowUpSettings":
        if self.enabled and len(self.secret) < 16:
            raise ValueError("enabled needs secret (at least 16 characters; write ${ENV_VAR} and export it)")
        return self


class PreferencesSettings(_Strict):
    """The customer's preferences page (linked from the tracking page) and one-click email unsubscribe."""

    secret: str = ""  # signs the links; empty: a key made once and kept in the database
    link_days: float = Field(30, gt=0, le=3650)
    unsubscribe_days: float = Field(365, gt=0, le=3650)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, v: str) -> str:
        v = v.strip()
        if v and len(v) < 16:
            raise ValueError("use at least 16 characters (write ${ENV_VAR} and export it), or leave it empty")
        return v


class PrivacySettings(_Strict):
    erase_contact_after_days: float | None = Field(90, gt=0)


class ApiSettings(_Strict):
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_bulk: int = Field(1000, ge=1, le=1000)


class SupportUser(_Strict):
    name: str = Field(min_length=1, max_length=64)
    password_hash: str = Field(min_length=1)


class SupportSettings(_Strict):
    users: list[SupportUser] = []
    session_secret: str = ""
    session_hours: float = Field(12, gt=0)


class IntakeSettings(_Strict):
    shopify_secret: str = ""
    woocommerce_secret: str = ""
    carrier_aliases: dict[str, str] = {}


class ShopifySettings(_Strict):
    """`tracker shopify connect`: the GraphQL Admin API of one shop (tracker/shops/shopify.py)."""

    shop: str = Field("", description="the shop's myshopify.com domain, e.g. casa-azul.myshopify.com")
    access_token: str = ""  # an Admin API access token (shpat_...) of a custom app, or:
    client_id: str = ""  # a Dev Dashboard app's client ID and secret (client credentials grant, 24 h tokens)
    client_secret: str = ""
    api_version: str = "2026-01"
    base_url: str = Field("", description="empty: https://<shop>; tests point it at a local fake")
    timeout_seconds: float = Field(30, gt=0)
    message_link: Literal["tracker", "order_status"] = "tracker"

    @field_validator("shop")
    @classmethod
    def _domain(cls, v: str) -> str:
        v = v.strip().lower().removeprefix("https://").rstrip("/")
        return _empty_or_matching(v, r"[a-z0-9][a-z0-9-]*\.myshopify\.com",
                                  "is not a shop domain; write it like casa-azul.myshopify.com")

    @field_validator("api_version")
    @classmethod
    def _version(cls, v: str) -> str:
        return _empty_or_matching(str(v), r"\d{4}-\d{2}|unstable", "is not an API version; write it like 2026-01")

    @field_validator("base_url")
    @classmethod
    def _base(cls, v: str) -> str:
        return _empty_or_matching(v, r"https?://[^\s\"'<>]+", "is not a web address").rstrip("/")


class WooCommerceSettings(_Strict):
    """`tracker woocommerce connect`: the REST API v3 of one WooCommerce shop (tracker/shops/woocommerce.py)."""

    url: str = Field("", description="the shop's address, e.g. https://loja.example")
    consumer_key: str = ""
    consumer_secret: str = ""
    timeout_seconds: float = Field(30, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _empty_or_matching(v, r"https?://[^\s\"'<>]+",
                                  "is not a web address; write it like https://loja.example").rstrip("/")


class PushQuietHours(_Strict):
    """Hours without a push, by status, after which a pushed shipment is polled again (the push source may
    have lost it): until then one safety check is due at the end of that time. null: poll as usual."""

    pending: float | None = Field(48, gt=0)
    info_received: float | None = Field(48, gt=0)
    in_transit: float | None = Field(48, gt=0)
    out_for_delivery: float | None = Field(8, gt=0)
    available_for_pickup: float | None = Field(72, gt=0)
    failed_attempt: float | None = Field(24, gt=0)
    exception: float | None = Field(48, gt=0)


class InboxSettings(_Strict):
    """The durable push inbox (tracker/inbox/): pushes are stored, answered, then applied behind."""

    tick_seconds: float = Field(1, gt=0)
    claim_batch: int = Field(200, ge=1, le=5000)
    lease_seconds: float = Field(60, gt=0)
    store_timeout_seconds: float = Field(3, gt=0, le=60)
    retry_after_seconds: int = Field(5, ge=1, le=3600)
    backoff_base_seconds: float = Field(5, gt=0)
    backoff_max_seconds: float = Field(600, gt=0)
    max_attempts: int = Field(10, ge=1)
    keep_days: float = Field(4, gt=0)


class SourcesSettings(_Strict):
    """Which tracking source serves which carrier (tracker/routing.py, docs/carriers.md)."""

    routes: dict[str, str] = {}
    default: str | None = None
    push_quiet_hours: PushQuietHours = PushQuietHours()
    tick_seconds: float = Field(5, gt=0)
    backoff_base_seconds: float = Field(60, gt=0)
    backoff_max_seconds: float = Field(6 * 3600, gt=0)
    alert_after_failures: int = Field(3, ge=1)
    renew_before_hours: float = Field(24, gt=0)
    quota_check_hours: float = Field(1, gt=0)
    inbox: InboxSettings = InboxSettings()

    @field_validator("routes")
    @classmethod
    def _lower(cls, v: dict[str, str]) -> dict[str, str]:
        return {str(k).strip().lower(): str(s).strip().lower() for k, s in v.items()}

    @field_validator("default")
    @classmethod
    def _default(cls, v: str | None) -> str | None:
        return v.strip().lower() or None if v is not None else None


class ConversationsSettings(_Strict):
    """What customers write back (tracker/conversations/): answered at once, or handed to a person."""

    enabled: bool = True
    reply_to: str = Field("", description="the Reply-To of every email: an address at your SendGrid Inbound "
                          "Parse domain, e.g. replies@reply.yourshop.example; empty: replies go to the sender")
    parse_public_key: str = Field("", description="the public key of the Inbound Parse security policy "
                                  "(signature enabled); empty: Inbound Parse requests are refused")
    parse_max_age_seconds: int = Field(600, ge=30, le=86400)
    auto_answers_per_hour: int = Field(3, ge=0, le=100)
    max_text_chars: int = Field(2000, ge=100, le=20000)
    own_addresses: list[str] = Field([], description="the shop's own numbers and addresses: never answered")
    keywords_dir: str = Field("", description="a folder of <language>.yaml files extending the keyword tables")

    @field_validator("reply_to")
    @classmethod
    def _address(cls, v: str) -> str:
        return _empty_or_matching(v.strip(), r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+",
                                  "is not an email address; write it like replies@reply.yourshop.example")


def pickup_hours(watch: WatchSettings) -> float:
    """How long a number the carrier does not know yet is about to be picked up: the shop's handling time
    and a day for the label to reach the carrier's first scan."""
    return (watch.handling_hours if watch.handling_hours is not None else 48) + 24


class Settings(_Strict):
    database: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    shop: ShopSettings = ShopSettings()
    poller: PollerSettings = PollerSettings()
    dispatcher: DispatcherSettings = DispatcherSettings()
    carriers: dict[str, dict[str, Any]] = {"sandbox": {}}
    channels: ChannelsSettings = ChannelsSettings()
    providers: dict[str, dict[str, Any]] = {"console": {}}
    templates: TemplatesSettings = TemplatesSettings()
    sms: SmsSettings = SmsSettings()
    quiet_hours: QuietHoursSettings = QuietHoursSettings()
    logging: LoggingSettings = LoggingSettings()
    watch: WatchSettings = WatchSettings()
    support_alerts: SupportAlertsSettings = SupportAlertsSettings()
    follow_up: FollowUpSettings = FollowUpSettings()
    preferences: PreferencesSettings = PreferencesSettings()
    privacy: PrivacySettings = PrivacySettings()
    api: ApiSettings = ApiSettings()
    support: SupportSettings = SupportSettings()
    intake: IntakeSettings = IntakeSettings()
    shopify: ShopifySettings = ShopifySettings()
    woocommerce: WooCommerceSettings = WooCommerceSettings()
    sources: SourcesSettings = SourcesSettings()
    conversations: ConversationsSettings = ConversationsSettings()

    # Not from the file: where it was read, to resolve relative paths.
    source: str = Field("<defaults>", exclude=True)
    base_dir: str = Field(".", exclude=True)
    key_lines: dict[tuple, int] = Field(default_factory=dict, exclude=True)

    def where(self, loc: tuple) -> str:
        """'config.yaml:31' for a key's path, so an error names the line to fix."""
        line = _line_of(self.key_lines, loc)
        return f"{self.source}:{line}" if line else self.source

    @model_validator(mode="after")
    def _poller_timezone(self) -> "Settings":
        if self.poller.timezone is None:  # the delivery window is read in the shop's time zone
            self.poller = self.poller.model_copy(update={"timezone": self.shop.timezone})
        if self.poller.pickup_expected_hours is None:
            self.poller = self.poller.model_copy(update={"pickup_expected_hours": pickup_hours(self.watch)})
        return self

    @property
    def async_database_url(self) -> str:
        return async_url(self.database.url, Path(self.base_dir))


def state_directory() -> Path | None:
    """$STATE_DIRECTORY: set by systemd for a unit with StateDirectory= (and by the container image)."""
    first = (os.environ.get("STATE_DIRECTORY") or "").split(":")[0].strip()
    return Path(first) if first else None


def async_url(url: str, base_dir: Path) -> str:
    """sqlite:///rel.db -> sqlite+aiosqlite:////abs/rel.db; postgresql:// -> postgresql+asyncpg://.
    A relative SQLite path lives in $STATE_DIRECTORY when it is set (systemd's StateDirectory=, the
    container's /data), else beside the config file."""
    if url.startswith("sqlite"):
        _, _, path = url.partition(":///")
        if path and path != ":memory:" and not path.startswith("/"):
            path = str(((state_directory() or base_dir) / path).resolve())
        return f"sqlite+aiosqlite:///{path}"
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def shown_database(settings: "Settings") -> str:
    """The database as an operator may read it: a SQLite file's full path, a server URL without its password."""
    url = settings.database.url
    if url.startswith("sqlite"):
        return "sqlite:///" + settings.async_database_url.partition(":///")[2]
    return redact.credentials(url)


# --- loading ---------------------------------------------------------------------------------------

def _key_lines(text: str) -> dict[tuple, int]:
    """Map each key path in the YAML text to its 1-based line."""
    lines: dict[tuple, int] = {}

    def walk(node: yaml.Node, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                p = path + (key.value,)
                lines[p] = key.start_mark.line + 1
                walk(value, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[path + (i,)] = item.start_mark.line + 1
                walk(item, path + (i,))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return lines


def _line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _interpolate(value: Any, path: tuple, where: Any, problems: list[tuple[tuple, str]]) -> Any:
    """${VAR} substituted; each variable that is not set is added to `problems` (and left empty)."""
    if isinstance(value, dict):
        return {k: _interpolate(v, path + (k,), where, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path + (i,), where, problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        problem = (f"{where(path)}: {dotted(path)} needs the environment variable {name}, which is not set. "
                   f"Fix: export {name}=... before starting tracker, or write ${{{name}:-default}}.")
        problems.append((path, problem))
        return ""

    return ENV_PATTERN.sub(sub, value)


def dotted(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


_HINTS = {
    "extra_forbidden": "remove it or fix its spelling",
    "missing": "add it",
    "literal_error": "use one of the allowed values",
}


def load_settings(path: str | os.PathLike | None = None, *, text: str | None = None) -> Settings:
    """Read and validate a config file. Raises ConfigError with a one-line, actionable message."""
    if text is None:
        if path is None:
            path = DEFAULT_CONFIG
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"{p}: no such config file. Fix: run `tracker init` to write one, or pass --config PATH."
            ) from None
        source, base_dir = str(p), p.resolve().parent
    else:
        source, base_dir = str(path or "<text>"), Path(path).resolve().parent if path else Path.cwd()

    try:
        lines = _key_lines(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"{source}{line}: not valid YAML ({problem}). Fix: check the indentation and quoting on that line."
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the top level must be a mapping of sections (database:, shop:, ...).")

    def where(loc: tuple) -> str:
        line = _line_of(lines, loc)
        return f"{source}:{line}" if line else source

    problems: list[tuple[tuple, str]] = []
    data = _interpolate(data, (), where, problems)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        unset = {loc for loc, _ in problems}
        problems += [(loc, msg) for loc, msg in _problems(exc, (), where) if loc not in unset]
    if problems:
        raise ConfigError(by_line(problems, lines))
    settings.source = source
    settings.base_dir = str(base_dir)
    settings.key_lines = lines
    return settings


def _problems(exc: ValidationError, loc: tuple, where) -> list[tuple[tuple, str]]:
    out = []
    for err in exc.errors():
        full = loc + tuple(err["loc"])
        hint = _HINTS.get(err["type"], "correct the value")
        out.append((full, f"{where(full)}: {dotted(full)}: {err['msg']}. Fix: {hint}."))
    return out


def by_line(problems: list[tuple[tuple, str]], lines: dict[tuple, int]) -> list[str]:
    """The messages in the order of their lines in the file, each once."""
    ordered = sorted(problems, key=lambda p: _line_of(lines, p[0]) or 0)
    return list(dict.fromkeys(msg for _, msg in ordered))


def validate_part(model: type[BaseModel], raw: dict, loc: tuple, where) -> BaseModel:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([msg for _, msg in _problems(exc, loc, where)]) from None


_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "[::1]"}


def is_local(url: str) -> bool:
    host = (urlsplit(url.strip()).hostname or "").lower()
    return host in _LOCAL_HOSTS or host.endswith(".localhost") or host.startswith("127.")


def public_url_problems(settings: Settings, sending: list[str], real: list[str]) -> tuple[list[str], list[str]]:
    """server.public_url goes into every message. (errors, warnings): without https:// while a real
    provider (`real`: the kinds sent through Twilio or SendGrid themselves) sends, every link is dead or
    in clear: an error; pointing at this machine while messages go out (`sending`): a warning."""
    if not sending:
        return [], []
    url = settings.server.public_url.strip()
    loc = ("server", "public_url")
    parts = urlsplit(url)
    fix = "Fix: set it to the https:// address customers reach, for example https://track.example.com."
    if real and (parts.scheme != "https" or not parts.netloc):
        what = " and ".join(real)
        why = "has no scheme" if parts.scheme not in ("http", "https") or not parts.netloc else "is not https://"
        return [(f"{settings.where(loc)}: server.public_url {url!r} {why} while {what} go out for real; the links "
                 f"in every message would {'not open' if why == 'has no scheme' else 'travel in clear'}. {fix}")], []
    what = " and ".join(sending)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [], [(f"{settings.where(loc)}: warning: server.public_url {url!r} has no scheme (http:// or https://); "
                     f"the links in every {what} message would not open. {fix}")]
    if is_local(url):
        return [], [(f"{settings.where(loc)}: warning: server.public_url {url!r} points at this machine; customers "
                     f"would get dead links in every {what} message. {fix}")]
    return [], []
