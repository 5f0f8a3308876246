"""When to look again. Pure functions: status (+ where the parcel is in its journey) -> next check,
failures -> backoff.

Carrier quotas bind long before CPU, so a check is spent where it can change what a customer hears:

- in transit and still days away from the expected delivery date: rarely (`far_interval`);
- the day(s) just before it: the status interval (`intervals.in_transit`);
- on and after the expected delivery date (or, with no date from the carrier, once `typical_transit_days`
  have passed since registration), during the local delivery window: often (`near_eta_interval`), because
  that is when "out for delivery" happens;
- out for delivery: `intervals.out_for_delivery` until delivered;
- at night (outside `delivery_window`, in the order's time zone, else the shop's): no checks; the next
  one is deferred to the morning, spread over the first `near_eta_interval` of the window;
- never sleep through the first morning on which the parcel becomes more urgent;
- delivered or expired: never again.

Status intervals shorter than `near_eta_interval` are taken literally (demos and tests that compress a
journey into seconds): the time-of-day layer would make no sense for them.

See docs/polling.md for the figures (bench/simulate.py).
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker.config import PollerSettings, PushQuietHours, WatchSettings, pickup_hours
from tracker.status import FINAL_STATUSES, Status

# Statuses whose next step depends on the delivery date: the parcel is on its way to the door.
_JOURNEY_STATUSES = frozenset({Status.IN_TRANSIT, Status.FAILED_ATTEMPT})


@lru_cache(maxsize=256)
def _zone_named(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _zone(tz: tzinfo | str | None) -> tzinfo:
    if tz is None or tz == "":
        return timezone.utc
    if isinstance(tz, str):
        return _zone_named(tz)
    return tz


@lru_cache(maxsize=64)
def parse_window(text: str) -> tuple[time, time | None]:
    """'07:00-21:00' -> (07:00, 21:00); an end of 24:00 is (start, None), the end of the day."""
    start, _, end = text.partition("-")
    h, m = (int(x) for x in start.strip().split(":"))
    begin = time(h, m)
    h, m = (int(x) for x in end.strip().split(":"))
    return begin, (None if (h, m) == (24, 0) else time(h, m))


def _window(day: date, zone: tzinfo, window: tuple[time, time | None]) -> tuple[datetime, datetime]:
    """The delivery window of a local calendar day, as aware datetimes."""
    start, end = window
    opens = datetime.combine(day, start, tzinfo=zone)
    closes = (datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone) if end is None
              else datetime.combine(day, end, tzinfo=zone))
    return opens, closes


def _journey_interval(status: Status, days_left: int | None, settings: PollerSettings, base: float) -> float:
    """Seconds between checks for a parcel `days_left` local days before its (expected) delivery date."""
    if status not in _JOURNEY_STATUSES or days_left is None:
        return base
    if days_left <= 0:
        return min(base, settings.near_eta_interval)
    if days_left >= settings.far_from_eta_days:
        return max(base, settings.far_interval)
    return base


def about_to_ship(now: datetime, since: datetime | None, settings: PollerSettings) -> bool:
    """A number registered less than `pickup_expected_hours` ago that the carrier does not know yet: the shop
    is most likely still handling the order, the pickup ("shipped") is coming."""
    hours = settings.pickup_expected_hours
    if hours is None:  # a PollerSettings alone: the default Settings would fill in
        hours = pickup_hours(WatchSettings())
    return since is not None and now - since < timedelta(hours=hours)


def next_check(status: Status | str, now: datetime, settings: PollerSettings,
               rng: random.Random | None = None, *, expected_delivery: date | None = None,
               tz: tzinfo | str | None = None, since: datetime | None = None) -> datetime | None:
    """When to ask the carrier again about a parcel in `status`; None once there is nothing left to learn.

    `expected_delivery` is the carrier's date, `tz` the recipient's (or the shop's) time zone, `since`
    when the shipment was registered (to guess a delivery date when the carrier gives none). Without
    them this is the plain per-status interval with jitter. `now` must be aware; the result is UTC.
    """
    status = Status(status)
    if status in FINAL_STATUSES:
        return None
    rng = rng or random
    base = getattr(settings.intervals, status.value, settings.intervals.in_transit)
    spread = rng.uniform(1 - settings.jitter, 1 + settings.jitter)
    literal = base < settings.near_eta_interval
    if literal or not settings.adaptive or (tz is None and expected_delivery is None and since is None):
        return now + timedelta(seconds=base * spread)

    zone = _zone(tz)
    window = parse_window(settings.delivery_window)
    local = now.astimezone(zone)
    today = local.date()
    eta = expected_delivery
    if eta is None and since is not None:
        eta = (since.astimezone(zone) + timedelta(days=settings.typical_transit_days)).date()

    def days_left(day: date) -> int | None:
        return None if eta is None else (eta - day).days

    def morning(day: date) -> datetime:
        opens, _ = _window(day, zone, window)
        return opens + timedelta(seconds=rng.uniform(0, settings.near_eta_interval))

    interval = _journey_interval(status, days_left(today), settings, base)
    if status is Status.IN_TRANSIT and interval == settings.near_eta_interval and settings.near_eta_until:
        # parcels go out for delivery in the morning: past `near_eta_until` a parcel not yet out is
        # unlikely to go out today, so it is checked at its ordinary pace
        h, m = (int(x) for x in settings.near_eta_until.split(":"))
        if local.time() >= time(h, m):
            interval = base
    elif status is Status.INFO_RECEIVED and settings.pickup_interval:
        interval = min(interval, settings.pickup_interval)  # waiting for the first scan: "shipped" is news
    elif status is Status.PENDING and settings.pickup_interval and about_to_ship(now, since, settings):
        interval = min(interval, settings.pickup_interval)  # unknown to the carrier yet: likely not for long
    candidate = now + timedelta(seconds=interval * spread)

    # Out of the night: a check due outside the window moves to the start of the next one.
    c_local = candidate.astimezone(zone)
    opens, closes = _window(c_local.date(), zone, window)
    if c_local < opens:
        candidate = morning(c_local.date())
    elif c_local >= closes:
        candidate = morning(c_local.date() + timedelta(days=1))

    # Never sleep through the first morning on which the parcel becomes more urgent.
    if eta is not None and status in _JOURNEY_STATUSES:
        for day in (eta - timedelta(days=settings.far_from_eta_days - 1), eta):
            if day <= today:
                continue
            if _journey_interval(status, days_left(day), settings, base) < interval:
                wake = morning(day)
                if wake < candidate:
                    candidate = wake
                break
    return candidate.astimezone(timezone.utc)


def next_check_pushed(status: Status | str, now: datetime, heard_at: datetime | None, quiet: PushQuietHours,
                      polled: datetime | None) -> datetime | None:
    """Push first: a shipment its source pushes about is polled once, as a safety check, when the push
    silence its status makes likely is over (`quiet[status]` hours after the source was last heard);
    any push moves that check on. Once pushes have been quiet longer, polling takes over (`polled`, the
    ordinary `next_check`) until the source is heard again."""
    status = Status(status)
    if status in FINAL_STATUSES:
        return None
    hours = getattr(quiet, status.value, None)
    if heard_at is None or hours is None:
        return polled
    safety = heard_at + timedelta(hours=hours)
    return safety if safety > now else polled
