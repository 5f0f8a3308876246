"""Registering orders and shipments: validation (pure), merging (pure) and an idempotent upsert.

Every intake (CLI, HTTP API, CSV, shop webhooks) goes through `validate()` then `register_batch()`
(`register()` for one), so bad input is refused the same way everywhere: one `InputError` naming the
field and the fix, nothing written. Re-registering a known order changes only the contact fields it
gives or clears (`merge()`); the others keep their values.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tracker import plaintext
from tracker.carriers.catalog import AUTO, canonical, display_name, for_country, normalise
from tracker.carriers.countries import ISO_COUNTRIES
from tracker.carriers.detect import Undetected, choose
from tracker.models import Order, Shipment

LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
_SPACES = re.compile(r"\s+")
_TRACKING = re.compile(r"[A-Z0-9\-_.]+")
CHANNELS = ("whatsapp", "sms", "email")
# A parcel no source can follow (a carrier no module or aggregator serves): kept, announced as shipped with
# the shop's link, never polled.
NOT_TRACKABLE = "not_trackable"
# A shop's fulfillment without a tracking number is still a parcel: it stands under this prefix and the
# shop's own reference of it (Shopify's fulfillment name, WooCommerce's order number), never shown.
NO_NUMBER = "NO-NUMBER-"
UNKNOWN_CARRIER = "unknown"  # a parcel whose carrier the shop did not name and nobody recognises


def has_number(tracking_number: str | None) -> bool:
    return bool(tracking_number) and not tracking_number.startswith(NO_NUMBER)
CHUNK = 500  # values per IN (...) lookup on SQLite
CONTACT = ("email", "phone", "locale", "timezone", "channels")  # what re-registering an order may change
STORED = (*CONTACT, "contact_problem", "email_folded")  # the order columns a registration writes


class InputError(ValueError):
    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__(f"{field}: {problem}. Fix: {fix}.")
        self.field, self.problem, self.fix = field, problem, fix


@dataclass(frozen=True, slots=True)
class Registration:
    order_number: str
    carrier: str
    tracking_number: str
    email: str | None
    phone: str | None
    locale: str
    timezone: str | None
    channels: tuple[str, ...]
    source: str = ""  # who tells us about it (tracker/routing.py); "" = the carrier's own module
    first_check_seconds: float | None = None  # a pushed shipment's first poll is only a safety check
    # Contact fields this registration sets or clears; a known order keeps the others as they are.
    given: frozenset[str] = frozenset(("email", "phone", "locale", "timezone", "channels"))
    # why a contact detail the shop sent was left out (masked; shown to support), None: nothing left out
    contact_problem: str | None = None
    carrier_name: str | None = None  # the carrier as the shop named it, when tracker's name differs
    tracking_url: str | None = None  # the shop's own tracking link
    trackable: bool = True  # False: no source can follow this carrier; the parcel is kept "not trackable"


def _valid_number(parsed: phonenumbers.PhoneNumber, region: str) -> bool:
    # is_valid_number() tries each region sharing the country code (25 share +1); the shop's own first
    if (parsed.country_code == phonenumbers.country_code_for_region(region)
            and phonenumbers.is_valid_number_for_region(parsed, region)):
        return True
    return phonenumbers.is_valid_number(parsed)


def normalize_phone(raw: str, region: str, countries: tuple[str, ...] = ()) -> str:
    """E.164 of `raw`, read as a number of the customer's `countries` in order (shipping address, then
    billing), then of the shop's `region`: the first plan it is valid in."""
    regions = tuple(dict.fromkeys((*countries, region)))
    for r in regions:
        try:
            parsed = phonenumbers.parse(raw, r)
        except phonenumbers.NumberParseException:
            continue
        if _valid_number(parsed, r):
            # E.164 as phonenumbers.format_number(...E164) writes it, without its generic formatting machinery
            return f"+{parsed.country_code}{phonenumbers.national_significant_number(parsed)}"
        if raw.lstrip().startswith("+"):
            break  # international form: the region plays no part
    where = f" in {' or '.join(regions)}" if countries else ""
    raise InputError("phone", f"{raw!r} is not a valid phone number{where}",
                     "give it in international form, for example +351912345678, or check the country")


def countries_of(value: str | None) -> tuple[str, ...]:
    """The `country` field: an ISO 3166-1 alpha-2 code, or several comma-separated (shipping address
    first, then billing). InputError naming the field otherwise."""
    codes = tuple(dict.fromkeys(c.strip().upper() for c in (value or "").split(",") if c.strip()))
    for code in codes:
        if code not in ISO_COUNTRIES:
            raise InputError("country", f"{code[:8]!r} is not an ISO 3166 country code",
                             "give the customer's country as two letters, for example PT, ES, GR, BR or US")
    return codes


# A plain ASCII dot-atom local part: email-validator leaves it as it is, so only the domain needs its
# full check, once per domain (a shop's customers share a few dozen domains).
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=4096)
def _email_domain(domain: str) -> str | EmailNotValidError:
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError as exc:
        return exc


def normalize_email(raw: str) -> str:
    local, at, domain = raw.rpartition("@")
    if at and len(local) <= 64 and len(raw) <= 254 and _PLAIN_LOCAL.fullmatch(local):
        checked = _email_domain(domain)
        if isinstance(checked, str) and len(local) + 1 + len(checked) <= 254:
            return f"{local}@{checked}"
    try:  # anything else (quoted, international, wrong): the full check says what is wrong
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InputError("email", f"{raw!r} is not a valid email address ({exc})",
                         "give an address such as name@example.com") from None


def refuse_unsafe(field: str, value: str | None) -> None:
    """InputError when text bound for logs, SMS or subjects holds control or text-direction characters."""
    if isinstance(value, str) and (bad := plaintext.problem(value)):
        raise InputError(field, bad, plaintext.FIX)


def validate(*, order_number: str | None, carrier: str | None, tracking_number: str | None,
             email: str | None = None, phone: str | None = None, locale: str | None = None,
             timezone: str | None = None, channels: list[str] | str | None = None, clear: Iterable[str] = (),
             known_carriers: list[str], default_locale: str = "en", default_channels: list[str] | None = None,
             default_region: str = "US", route: Callable[[str], tuple[str, float | None] | None] | None = None,
             country: str | None = None, tracking_url: str | None = None, untrackable: bool = False) -> Registration:
    """Check and normalize one registration. Raises InputError on the first bad field.

    A contact field left out (None or blank) is not given: a known order keeps its value. `clear` names
    the contact fields to empty (locale and channels go back to the shop's defaults).
    """
    given_values = {"email": email, "phone": phone, "locale": locale, "timezone": timezone}
    texts = {"order_number": order_number, "carrier": carrier, "tracking_number": tracking_number, **given_values,
             "tracking_url": tracking_url,
             "channels": ",".join(map(str, channels)) if isinstance(channels, list) else channels}
    if plaintext.problem("".join(v for v in texts.values() if isinstance(v, str))):  # one look, then which
        for name, value in texts.items():
            refuse_unsafe(name, value)
    cleared = set(clear)
    for name in cleared:
        if name not in CONTACT:
            raise InputError("clear", f"{name!r} cannot be cleared", f"clear only {', '.join(CONTACT)}")
    given = {n for n, v in given_values.items() if v is not None and v.strip()}
    if channels is not None and channels != "" and channels != []:
        given.add("channels")
    both = sorted(given & cleared)
    if both:
        raise InputError(both[0], "is both given and cleared", "give a new value or clear it, not both")
    number = (order_number or "").strip()
    if not number:
        raise InputError("order_number", "is empty", "give the shop's order number, for example ORDER-1001")
    if len(number) > 64:
        raise InputError("order_number", "is longer than 64 characters", "shorten it")
    tracking = _SPACES.sub("", tracking_number or "").upper()
    if not tracking:  # registered before shipping: the first parcel comes later
        if (carrier or "").strip():
            raise InputError("tracking_number", f"is empty but carrier {carrier.strip()[:32]!r} is given",
                             "give the parcel's tracking number, or leave both out until the order ships")
        carried = Carried("", "")
    elif len(tracking) > 64 or not _TRACKING.fullmatch(tracking):
        raise InputError("tracking_number", f"{tracking_number!r} is not a tracking number",
                         "use the letters and digits printed on the label")
    elif untrackable and tracking.startswith(NO_NUMBER):  # a shop's fulfillment without a number
        carried = Carried(_slug(carrier), "", name=" ".join((carrier or "").split())[:64] or None, trackable=False)
    else:
        carried = _carrier_and_source(tracking, carrier, known_carriers, route, untrackable, countries_of(country))
    url = (tracking_url or "").strip() or None
    if url and (len(url) > 1000 or not re.fullmatch(r"https?://[^\s\"'<>]+", url)):
        raise InputError("tracking_url", "is not an http(s) address", "give the carrier's tracking page address, "
                         "https://…, or leave it out")
    email_n = normalize_email(email.strip()) if email and email.strip() else None
    phone_n = (normalize_phone(phone.strip(), default_region, countries_of(country))
               if phone and phone.strip() else None)
    loc = (locale.strip() if "locale" in given else default_locale).replace("_", "-")
    if not LOCALE.match(loc):
        raise InputError("locale", f"{locale!r} is not a language tag", "use a tag such as en, pt-BR, es or el")
    timezone = timezone.strip() if "timezone" in given else None
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError("timezone", f"unknown time zone {timezone!r}",
                             "use an IANA name such as America/Sao_Paulo") from None
    explicit = "channels" in given
    if isinstance(channels, str):
        channels = [c.strip() for c in channels.split(",") if c.strip()]
    wanted = list(channels) if explicit else list(default_channels or CHANNELS)
    for c in wanted:
        if c not in CHANNELS:
            raise InputError("channels", f"unknown channel {c!r}",
                             "use sms, email, whatsapp or several (sms,email or whatsapp,email)")
    return Registration(number, carried.carrier, tracking, email_n, phone_n, loc, timezone or None,
                        tuple(dict.fromkeys(wanted)), carried.source, carried.first_check, frozenset(given | cleared),
                        carrier_name=carried.name, tracking_url=url, trackable=carried.trackable)


def merge(reg: Registration, current: dict[str, Any] | None) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The order's contact data after `reg`, and the fields that changed (pure).

    `current` is the known order's CONTACT values (None: a new order, which takes reg's values with the
    shop's defaults). Raises InputError when the result would leave the customer unreachable.
    """
    new = {"email": reg.email, "phone": reg.phone, "locale": reg.locale, "timezone": reg.timezone,
           "channels": ",".join(reg.channels)}
    if current is None:
        values, changed = new, ()
    else:
        values = {f: new[f] if f in reg.given else current[f] for f in CONTACT}
        changed = tuple(f for f in CONTACT if values[f] != current[f])
    # the last word on a contact detail the shop sent: a problem with it, or a good one that clears it
    problem = (current or {}).get("contact_problem") or ""
    fixed = not reg.contact_problem and problem.split(" ", 1)[0] in reg.given  # "phone left out: ..."
    values["contact_problem"] = reg.contact_problem or (None if fixed or current is None
                                                        else current.get("contact_problem"))
    values["email_folded"] = values["email"].lower() if values["email"] else None
    if not values["email"] and not values["phone"]:
        if current is None:
            raise InputError("email", "no email and no phone given",
                             "give at least one, so the customer hears about the parcel")
        raise InputError("email", "clearing it would leave the order without email and phone",
                         "give the other one first, or keep one of them")
    if "channels" in reg.given:
        wanted = values["channels"].split(",")
        if "sms" in wanted and not values["phone"]:
            raise InputError("phone", "the sms channel was asked for but no phone was given", "add --phone or drop sms")
        if "whatsapp" in wanted and not values["phone"]:
            raise InputError("phone", "the whatsapp channel was asked for but no phone was given",
                             "add --phone or drop whatsapp")
        if "email" in wanted and not values["email"]:
            raise InputError("email", "the email channel was asked for but no email was given",
                             "add --email or drop email")
    return values, changed


@dataclass(slots=True)
class Outcome:
    index: int
    error: InputError | None = None
    order: Order | None = None        # loaded only when asked for (register_batch(load=True))
    shipment: Shipment | None = None   # None: registered before shipping, waiting for its first parcel
    created: bool = False              # a new shipment (without a tracking number: a new order)
    changed: tuple[str, ...] = ()      # contact fields of a known order that this registration changed
    new_order: bool = False


def _owned_error(tracking: str, holder: str) -> InputError:
    return InputError("tracking_number", f"{tracking} is already registered for order {holder}",
                      "check the number, or register it on that order")


async def register_batch(session: AsyncSession, items: list[tuple[int, Registration]], now: datetime, *,
                         first_check_seconds: float = 0, load: bool = True) -> list[Outcome]:
    """Upsert many orders and shipments in the caller's transaction, a few statements per batch.

    Idempotent on (carrier, tracking number); a known order takes only the contact fields each
    registration gives (`merge`). Without a tracking number only the order is upserted (it waits to ship).
    An item that cannot be registered (its tracking number belongs to another order, in the database or
    earlier in the batch; a new parcel on an order already delivered; it would leave the order
    unreachable; the order's personal data was erased) comes back with an error and writes nothing. `load`: put the rows in each outcome.
    """
    orders_t, ships_t = Order.__table__, Shipment.__table__
    cols = [orders_t.c[f] for f in STORED]
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        # A prepared IN (...) lookup otherwise soon runs a generic plan made from the statistics of a
        # table that was empty when this import began: a sequential scan per batch.
        await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    pg = conn.dialect.name == "postgresql"
    known: dict[str, dict[str, Any]] = {}  # order number -> {"id", CONTACT...}
    owner: dict[tuple[str, str], tuple[str, int | None]] = {}  # (carrier, number) -> (order number, shipment id)
    numbers = sorted({reg.order_number for _, reg in items})
    trackings = sorted({reg.tracking_number for _, reg in items if reg.tracking_number})
    erased: set[str] = set()  # orders whose customer's personal data was erased: they take none again
    for row in await _where_in(session, pg, select(orders_t.c.id, orders_t.c.number, orders_t.c.erased_at, *cols),
                               orders_t.c.number, numbers):
        known[row.number] = {k: v for k, v in row._mapping.items() if k != "erased_at"}
        if row.erased_at is not None:
            erased.add(row.number)
    found = await _where_in(session, pg, select(  # no join: PostgreSQL plans it badly on a table growing fast
        ships_t.c.carrier, ships_t.c.tracking_number, ships_t.c.id, ships_t.c.order_id), ships_t.c.tracking_number,
        trackings)
    number_of = {v["id"]: n for n, v in known.items()}
    others = sorted({row.order_id for row in found if row.order_id not in number_of})
    number_of.update(dict(await _where_in(session, pg, select(orders_t.c.id, orders_t.c.number), orders_t.c.id,
                                          others)))
    for carrier, tracking, sid, oid in found:
        owner[(carrier, tracking)] = (number_of[oid], sid)
    # known orders whose every parcel is delivered take no new parcel
    statuses: dict[int, set[str]] = {}
    for oid, status in await _where_in(session, pg, select(ships_t.c.order_id, ships_t.c.status), ships_t.c.order_id,
                                       sorted(v["id"] for v in known.values())):
        statuses.setdefault(oid, set()).add(status)
    delivered = {n for n, v in known.items() if statuses.get(v["id"]) == {"delivered"}}
    out: list[Outcome] = []
    fresh: dict[str, dict[str, Any]] = {}        # new orders by number: their values
    dirty: dict[str, dict[str, Any]] = {}        # known orders whose contact data changes
    new_ships: list[tuple[Outcome, Registration]] = []
    for index, reg in items:
        key = (reg.carrier, reg.tracking_number)
        holder = owner.get(key) if reg.tracking_number else None
        if holder is not None and holder[0] != reg.order_number:
            out.append(Outcome(index, _owned_error(reg.tracking_number, holder[0])))
            continue
        if reg.tracking_number and holder is None and reg.order_number in delivered:
            out.append(Outcome(index, InputError(
                "tracking_number", f"order {reg.order_number} is already delivered, so no parcel can be added to it",
                "register the parcel on a new order number (a replacement or return)")))
            continue
        if reg.order_number in erased:
            out.append(Outcome(index, InputError(
                "order_number", f"order {reg.order_number}: its customer's personal data was erased, so it takes "
                "no contact data and no parcel again", "register the parcel under a new order number if the "
                "customer wants to hear about it")))
            continue
        state = known.get(reg.order_number) or fresh.get(reg.order_number)
        try:
            values, changed = merge(reg, state)
        except InputError as exc:
            out.append(Outcome(index, exc))
            continue
        outcome = Outcome(index, changed=changed)
        if state is None:
            fresh[reg.order_number] = values
            outcome.new_order = True
            outcome.created = not reg.tracking_number
        else:
            problem_moved = values["contact_problem"] != state.get("contact_problem")
            state.update(values)
            if (changed or problem_moved) and reg.order_number in known:
                dirty[reg.order_number] = state
        if holder is None and reg.tracking_number:
            owner[key] = (reg.order_number, None)
            outcome.created = True
            new_ships.append((outcome, reg))
        out.append(outcome)
    if fresh:
        await insert_many(session, orders_t, [{"number": n, **v, "created_at": now,
                                               "public_token": secrets.token_urlsafe(24)} for n, v in fresh.items()])
        for oid, number in await _where_in(session, pg, select(orders_t.c.id, orders_t.c.number), orders_t.c.number,
                                           list(fresh)):
            known[number] = {"id": oid, **fresh[number]}
    if dirty:
        await session.execute(
            update(orders_t).where(orders_t.c.id == bindparam("_id")).values({f: bindparam(f) for f in STORED}),
            [{"_id": v["id"], **{f: v[f] for f in STORED}} for v in dirty.values()])
    if new_ships:
        await insert_many(session, ships_t, [{
            "order_id": known[reg.order_number]["id"], "carrier": reg.carrier,
            "source": (reg.source or reg.carrier) if reg.trackable else "",
            "tracking_number": reg.tracking_number, "status": "pending" if reg.trackable else NOT_TRACKABLE,
            "next_check_at": None if not reg.trackable else now + timedelta(
                seconds=first_check_seconds if reg.first_check_seconds is None else reg.first_check_seconds),
            "carrier_name": reg.carrier_name, "tracking_url": reg.tracking_url,
            "public_token": secrets.token_urlsafe(24), "created_at": now, "updated_at": now} for _, reg in new_ships])
    if load and out:
        await _load(session, out, dict(items), known)
    return out


async def _where_in(session: AsyncSession, pg: bool, query, column, values: list) -> list:
    """The rows of `query` whose `column` is one of `values`: on PostgreSQL one `= ANY(array)` (one
    parameter, however many values), elsewhere IN (...) in chunks of CHUNK."""
    if not values:
        return []
    if pg:
        return list(await session.execute(query.where(column == sa.any_(
            sa.bindparam("values", values, type_=sa.ARRAY(column.type))))))
    rows: list = []
    for i in range(0, len(values), CHUNK):
        rows += await session.execute(query.where(column.in_(values[i:i + CHUNK])))
    return rows


async def insert_many(session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT rows (same keys each) in one executemany (PostgreSQL: one statement) straight to the driver.

    Each distinct value is converted for the database once (a batch shares its few timestamps), instead
    of SQLAlchemy binding every parameter of every row, which costs more than the insert itself at
    thousands of rows a second. Columns left out take their scalar defaults.
    """
    conn = await session.connection()
    dialect = conn.dialect
    extra = {c.name: c.default.arg for c in table.columns
             if c.name not in rows[0] and c.default is not None and c.default.is_scalar}
    names = [*rows[0], *extra]
    style = {"qmark": lambda i: "?", "numeric_dollar": lambda i: f"${i}", "format": lambda i: "%s"}.get(dialect.paramstyle)
    if style is None or any(c.name not in names and c.default is not None for c in table.columns):
        await session.execute(insert(table), rows)  # a driver or default this shortcut does not know
        return
    procs = [(i, p) for i, n in enumerate(names) if (p := table.c[n].type.dialect_impl(dialect).bind_processor(dialect))]
    memo: dict[tuple[int, Any], Any] = {}

    def bound(row: dict[str, Any]) -> list[Any]:
        values = [*row.values(), *fixed]
        for i, proc in procs:
            if values[i] is not None:
                key = (i, values[i])
                if key not in memo:
                    memo[key] = proc(values[i])
                values[i] = memo[key]
        return values

    quote = dialect.identifier_preparer.quote
    into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
    fixed = list(extra.values())
    if dialect.name == "postgresql":  # one statement of column arrays: the server inserts them in one go
        arrays = [f"${i + 1}::{table.c[n].type.compile(dialect)}[]" for i, n in enumerate(names)]
        columns = [list(col) for col in zip(*(bound(row) for row in rows), strict=True)]
        await conn.exec_driver_sql(into + f"SELECT * FROM unnest({', '.join(arrays)})", tuple(columns))
        return
    await conn.exec_driver_sql(into + f"VALUES ({', '.join(style(i + 1) for i in range(len(names)))})",
                               [tuple(bound(row)) for row in rows])


async def _load(session: AsyncSession, out: list[Outcome], regs: dict[int, Registration],
                known: dict[str, dict[str, Any]]) -> None:
    good = [o for o in out if o.error is None]
    ids = sorted({known[regs[o.index].order_number]["id"] for o in good})
    orders = {o.id: o for o in (await session.scalars(
        select(Order).where(Order.id.in_(ids)).execution_options(populate_existing=True))).all()}
    ships = {(s.order_id, s.carrier, s.tracking_number): s for s in (await session.scalars(
        select(Shipment).where(Shipment.order_id.in_(ids)).execution_options(populate_existing=True))).all()}
    for o in good:
        reg = regs[o.index]
        o.order = orders[known[reg.order_number]["id"]]
        o.shipment = ships[(o.order.id, reg.carrier, reg.tracking_number)] if reg.tracking_number else None


@dataclass(frozen=True, slots=True)
class Carried:
    """Who carries a parcel and who tells us about it (what _carrier_and_source decides)."""

    carrier: str
    source: str
    first_check: float | None = None
    name: str | None = None  # the shop's own name of the carrier, when it is not tracker's
    trackable: bool = True


def _slug(name: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "-", normalise(name or "")).strip("-")[:32] or UNKNOWN_CARRIER


def _carrier_and_source(tracking: str, carrier: str | None, known_carriers: list[str],
                        route: Callable[[str], tuple[str, float | None] | None] | None,
                        untrackable: bool = False, countries: tuple[str, ...] = ()) -> Carried:
    """The carrier a shop's text names (the alias table), or the one the number's format says. A name
    tracker does not know goes to the default aggregator (AUTO: it detects the carrier), keeping the shop's
    name for the customer; with `untrackable` a carrier no source serves is kept as a parcel nobody can
    track instead of refused."""
    given = " ".join((carrier or "").split())
    name = None
    carrier = given.lower()
    if not carrier:
        try:
            carrier = choose(tracking, known_carriers)
        except Undetected as exc:
            posts = [c for c in exc.candidates if c.startswith("post-")]
            if AUTO in known_carriers and posts and posts == exc.candidates:
                carrier, name = AUTO, f"Post {posts[0][5:].upper()}"  # another country's post: the aggregator
            elif untrackable and AUTO not in known_carriers:
                return Carried(UNKNOWN_CARRIER, "", trackable=False)  # no name, no aggregator: kept all the same
            elif exc.candidates or AUTO not in known_carriers:
                raise InputError("carrier", exc.problem, exc.fix) from None
            else:
                carrier = AUTO  # the default source (an aggregator) detects it
        if route is not None:
            carrier = canonical(carrier)  # detected "correos" -> correos-es
    elif route is not None:
        # "ACS Courier", "CTT Expresso", "correos" -> acs, ctt, correos-es; "DPD" to Portugal -> dpd-pt
        carrier = for_country(canonical(carrier), countries)
        name = given[:64] if normalise(given) not in (normalise(carrier), normalise(display_name(carrier))) else None
    if carrier not in known_carriers:
        if AUTO in known_carriers and route is not None:
            carrier, name = AUTO, given[:64]
        elif untrackable and given:
            return Carried(_slug(given), "", name=given[:64], trackable=False)
        else:
            raise InputError("carrier", f"unknown carrier {carrier!r}", f"use one of {', '.join(known_carriers)}")
    source, first_check = carrier, None
    if route is not None:
        source, first_check = route(carrier) or ("", None)
        if not source:
            if untrackable:
                return Carried(carrier, "", name=name or given[:64] or None, trackable=False)
            raise InputError("carrier", f"no tracking source serves {carrier!r}",
                             "configure its module under carriers:, or route it (sources.routes / sources.default)")
    return Carried(carrier, source, first_check, name)


async def register(session: AsyncSession, reg: Registration, now: datetime, *,
                   first_check_seconds: float = 0) -> tuple[Order, Shipment | None, bool]:
    """One registration (register_batch of one). Returns (order, shipment, created); raises InputError.
    Without a tracking number shipment is None and created says whether the order is new."""
    (outcome,) = await register_batch(session, [(0, reg)], now, first_check_seconds=first_check_seconds)
    if outcome.error:
        raise outcome.error
    return outcome.order, outcome.shipment, outcome.created
