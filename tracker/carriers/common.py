"""Small pure helpers the carrier parsers share: times with offsets, places, codes."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import get_global

_OFFSET = re.compile(r"^([+-])(\d{1,2}):?(\d{2})?$")


def offset_minutes(text: str | None) -> int | None:
    """'-05:00' -> -300, '+0530' -> 330, 'Z' -> 0."""
    if text is None:
        return None
    text = str(text).strip()
    if text in ("Z", "z"):
        return 0
    m = _OFFSET.match(text)
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    return -minutes if m.group(1) == "-" else minutes


# Times a carrier or a source may give: anything outside is a broken or hostile value (a push with
# `ts: 1e20`, a scan in the year 9999), refused as unreadable rather than carried into date arithmetic.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)


def _in_range(when: datetime, text: Any) -> datetime:
    if not EARLIEST <= when < LATEST:
        raise ValueError(f"{str(text)[:40]!r} is out of range (years 1970-2099)")
    return when


def from_iso(text: str, *, zone: tzinfo | None = None) -> tuple[datetime, int | None]:
    """ISO 8601 -> (aware UTC, original offset in minutes). A time with no offset is read in `zone`
    (or, without one, as UTC with an unknown offset). ValueError for an unreadable or out-of-range time."""
    try:
        when = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
        if when.tzinfo is None:
            if zone is None:
                return _in_range(when.replace(tzinfo=timezone.utc), text), None
            when = when.replace(tzinfo=zone)
        off = when.utcoffset()
        return _in_range(when.astimezone(timezone.utc), text), int(off.total_seconds() // 60) if off is not None else None
    except OverflowError:  # 9999-12-31T23:00-05:00 is past the last datetime once in UTC
        raise ValueError(f"{str(text)[:40]!r} is out of range") from None


def from_epoch(value: Any) -> datetime:
    """Seconds since 1970 (a JSON number) -> aware UTC. ValueError for anything else, NaN, infinities and
    times out of range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{str(value)[:40]!r} is not a number of seconds")
    try:
        return _in_range(datetime.fromtimestamp(value, tz=timezone.utc), value)
    except (OverflowError, OSError, ValueError):  # 1e20, NaN, inf: the platform's own refusals
        raise ValueError(f"{str(value)[:40]!r} is out of range (years 1970-2099)") from None


@cache
def _country_zones(country: str) -> tuple[ZoneInfo, ...]:
    zones = []
    for name in get_global("territory_zones").get(country.upper(), ()):
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return tuple(zones)


def country_zone(country: str | None, local: datetime) -> tzinfo | None:
    """The zone a naive local time in `country` (ISO code) is in, when every zone of that country agrees
    on the offset at that time (DE, GB, BR's east in winter...); None for a split country (US) or none."""
    zones = _country_zones(country) if country and len(country) == 2 else ()
    offsets = {local.replace(tzinfo=z).utcoffset() for z in zones}
    return zones[0] if len(offsets) == 1 else None


def with_offset(local: datetime, minutes: int) -> datetime:
    """A naive local time and its offset -> aware UTC."""
    return (local - timedelta(minutes=minutes)).replace(tzinfo=timezone.utc)


def date_of(text: str | None) -> date | None:
    """'2024-11-22', '2024-11-22T00:00:00Z' or '20241122' -> date."""
    if not text:
        return None
    text = str(text).strip()
    try:
        if re.fullmatch(r"\d{8}", text):
            return datetime.strptime(text, "%Y%m%d").date()
        return datetime.fromisoformat(text.replace("Z", "+00:00")[:10] if "T" not in text else
                                      text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def time_window(start: str | None, end: str | None) -> str | None:
    """A delivery window from two local times ('120000' / '12:00' / '2021-10-01T12:00:00') -> '12:00-16:00'.
    None unless both are readable and the start comes first."""
    def hhmm(value: str | None) -> str | None:
        raw = str(value or "").strip()
        if "T" in raw:
            raw = raw.split("T", 1)[1]
        m = re.fullmatch(r"(\d{2}):?(\d{2})(?::?\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?", raw)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            return None
        return f"{m.group(1)}:{m.group(2)}"
    a, b = hhmm(start), hhmm(end)
    return f"{a}-{b}" if a and b and a < b else None


def place(*parts: Any) -> str:
    """Join the non-empty parts of an address: 'PARAMUS, NJ, US'."""
    seen: list[str] = []
    for p in parts:
        p = " ".join(str(p).split()) if p not in (None, "") else ""
        if p and p not in seen:
            seen.append(p)
    return ", ".join(seen)


def text(value: Any) -> str:
    return " ".join(str(value).split()) if value not in (None, "") else ""
