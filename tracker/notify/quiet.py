"""Quiet hours for SMS, in the recipient's time zone. Pure: no IO, no clock.

The zone is the order's, else the one(s) of the phone number (phonenumbers' geocoding tables), else the
shop's. A number that spans a few zones gets the most careful answer: it waits while it is night in any
of them, until it is morning in all of them. A number spread over many zones (toll-free, country-wide)
uses the shop's zone.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


@lru_cache(maxsize=4096)
def zones_of_phone(phone: str | None) -> tuple[str, ...]:
    if not phone:
        return ()
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = tuple(z for z in pn_timezone.time_zones_for_number(number) if _valid(z))
    return zones


def _valid(name: str | None) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# A number spread over more zones than this says nothing useful about where its owner sleeps.
MAX_ZONES = 4


def recipient_zones(order_timezone: str | None, phone: str | None, shop_timezone: str) -> tuple[str, ...]:
    if _valid(order_timezone):
        return (order_timezone,)
    zones = zones_of_phone(phone)
    if len(zones) > 1 and shop_timezone in zones:
        return (shop_timezone,)
    if not zones or len(zones) > MAX_ZONES:  # unknown, or not geographic (toll-free): the shop's zone
        return (shop_timezone,)
    return zones


def is_quiet(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start > end:  # the window crosses midnight, e.g. 21:00 -> 08:00
        return local >= start or local < end
    return start <= local < end


def quiet_until(now: datetime, zones: tuple[str, ...], start: time, end: time) -> datetime | None:
    """None if an SMS may go out now; otherwise the UTC moment the quiet hours end in every zone."""
    latest: datetime | None = None
    for name in zones:
        tz = ZoneInfo(name)
        local = now.astimezone(tz)
        if not is_quiet(local.time().replace(tzinfo=None), start, end):
            continue
        morning = datetime.combine(local.date(), end, tzinfo=tz)
        if morning <= local:
            morning = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=tz)
        morning = morning.astimezone(timezone.utc)
        if latest is None or morning > latest:
            latest = morning
    return latest
