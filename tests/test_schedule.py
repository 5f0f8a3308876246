"""The polling policy as a shop would notice it: quiet nights, frequent looks on delivery day, never after
delivery, and checks spread out by jitter. Pure: every case runs on a given `now`."""

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import add, make_settings, shipment
from tracker.components import load as load_config
from tracker.config import ConfigError, PollerSettings, Settings
from tracker.schedule import next_check, parse_window
from tracker.status import Status

CHICAGO = ZoneInfo("America/Chicago")
ETA = date(2026, 3, 12)  # a Thursday
S = Settings().poller   # the shipped defaults, as the daemon fills them in (pickup_expected_hours)
WINDOW_START, WINDOW_END = (t.hour for t in parse_window(S.delivery_window))


def local(day: date, hour: float, zone=CHICAGO) -> datetime:
    """An aware UTC instant at `hour` local time on `day`."""
    return (datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(hours=hour)).astimezone(timezone.utc)


def in_window(when: datetime, zone=CHICAGO) -> bool:
    lt = when.astimezone(zone)
    return WINDOW_START <= lt.hour + lt.minute / 60 < WINDOW_END


def check(status, now, *, eta=ETA, tz="America/Chicago", since=None, settings=S, seed=0):
    return next_check(status, now, settings, random.Random(seed), expected_delivery=eta, tz=tz, since=since)


def minutes(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 60


# (what the shop sees, status, local day, local hour, earliest and latest minutes until the next check)
near = S.near_eta_interval / 60
ofd = S.intervals.out_for_delivery / 60
j = S.jitter
CASES = [
    ("in transit on the delivery date, morning: looks often", Status.IN_TRANSIT, ETA, 8.0,
     near * (1 - j), near * (1 + j)),
    ("in transit a day after the date (late parcel), morning: still often", Status.IN_TRANSIT,
     ETA + timedelta(days=1), 10.0, near * (1 - j), near * (1 + j)),
    ("in transit on the date, afternoon, not out yet: the plain in-transit interval (parcels go out in the "
     "morning)", Status.IN_TRANSIT, ETA, 14.0, S.intervals.in_transit / 60 * (1 - j),
     S.intervals.in_transit / 60 * (1 + j)),
    ("label created, afternoon: every pickup_interval, the first scan is news", Status.INFO_RECEIVED,
     ETA - timedelta(days=3), 15.0, S.pickup_interval / 60 * (1 - j), S.pickup_interval / 60 * (1 + j)),
    ("out for delivery at noon: every half hour or so", Status.OUT_FOR_DELIVERY, ETA, 12.0,
     ofd * (1 - j), ofd * (1 + j)),
    ("failed attempt on delivery day: often", Status.FAILED_ATTEMPT, ETA, 15.0, near * (1 - j), near * (1 + j)),
    ("in transit far from the date: rarely", Status.IN_TRANSIT, ETA - timedelta(days=4), 9.0,
     S.far_interval / 60 * (1 - j), S.far_interval / 60 * (1 + j)),
    ("in transit the day before: the plain in-transit interval", Status.IN_TRANSIT, ETA - timedelta(days=1), 9.0,
     S.intervals.in_transit / 60 * (1 - j), S.intervals.in_transit / 60 * (1 + j)),
]


@pytest.mark.parametrize("what,status,day,hour,lo,hi", CASES, ids=[c[0] for c in CASES])
def test_interval_follows_status_and_journey(what, status, day, hour, lo, hi):
    now = local(day, hour)
    for seed in range(50):
        nxt = check(status, now, seed=seed)
        assert lo <= minutes(now, nxt) <= hi, what


NIGHTS = [  # (..., whether the first look of the morning is right at the window's opening)
    ("in transit far from the date at 3 am", Status.IN_TRANSIT, ETA - timedelta(days=4), 3.0, False),
    ("in transit on the delivery date at 3 am", Status.IN_TRANSIT, ETA, 3.0, True),
    ("in transit on the delivery date at 22:00", Status.IN_TRANSIT, ETA, 22.0, True),
    ("out for delivery late in the evening", Status.OUT_FOR_DELIVERY, ETA, 20.9, True),
    ("pending label at midnight", Status.PENDING, ETA - timedelta(days=5), 0.0, False),
    ("exception at 23:30", Status.EXCEPTION, ETA, 23.5, True),
]


@pytest.mark.parametrize("what,status,day,hour,at_opening", NIGHTS, ids=[n[0] for n in NIGHTS])
def test_no_checks_at_night(what, status, day, hour, at_opening):
    now = local(day, hour)
    for seed in range(50):
        nxt = check(status, now, seed=seed)
        assert in_window(nxt), what
        assert nxt > now and minutes(now, nxt) < 24 * 60
        if at_opening:  # spread over the first near-ETA interval of the window
            morning = nxt.astimezone(CHICAGO)
            assert 0 <= (morning.hour - WINDOW_START) * 60 + morning.minute <= near, what


def walk(status_of, start: datetime, end: datetime, **kw) -> list[datetime]:
    """Every check the policy makes from `start` to `end`, the status given by `status_of(t)`."""
    t, checks, seed = start, [], 0
    while t is not None and t < end:
        checks.append(t)
        seed += 1
        t = check(status_of(t), t, seed=seed, **kw)
    return checks


def test_a_week_in_transit_is_quiet_at_night_and_busy_on_delivery_morning():
    start = local(ETA - timedelta(days=6), 16.0)
    checks = walk(lambda t: Status.IN_TRANSIT, start, local(ETA, 12.0))
    assert all(in_window(c) for c in checks[1:])
    by_day: dict[date, int] = {}
    for c in checks:
        by_day[c.astimezone(CHICAGO).date()] = by_day.get(c.astimezone(CHICAGO).date(), 0) + 1
    far_days = [d for d in by_day if (ETA - d).days >= S.far_from_eta_days]
    assert far_days and all(by_day[d] <= 3 for d in far_days)  # rarely while far away
    on_the_day = [c for c in checks if c.astimezone(CHICAGO).date() == ETA]
    # frequent from the opening of the window: never more than ~a near-ETA interval without a look
    assert min(on_the_day) <= local(ETA, WINDOW_START) + timedelta(seconds=S.near_eta_interval)
    gaps = [minutes(a, b) for a, b in zip(on_the_day, on_the_day[1:])]
    assert gaps and max(gaps) <= near * (1 + j)


def test_a_long_far_interval_never_sleeps_through_the_delivery_morning():
    settings = S.model_copy(update={"far_interval": 5 * 86400.0, "far_from_eta_days": 3})
    now = local(ETA - timedelta(days=4), 10.0)
    checks = walk(lambda t: Status.IN_TRANSIT, now, local(ETA, 10.0), settings=settings)
    days = {c.astimezone(CHICAGO).date() for c in checks}
    assert ETA - timedelta(days=2) in days and ETA in days


def test_without_a_date_from_the_carrier_typical_transit_time_stands_in():
    since = local(date(2026, 3, 2), 10.0)
    guess = (since.astimezone(CHICAGO) + timedelta(days=S.typical_transit_days)).date()
    early, late = local(since.date() + timedelta(days=1), 10.0), local(guess, 10.0)
    assert minutes(early, check(Status.IN_TRANSIT, early, eta=None, since=since)) > near * 2
    assert minutes(late, check(Status.IN_TRANSIT, late, eta=None, since=since)) <= near * (1 + j)


@pytest.mark.parametrize("status", [Status.DELIVERED, Status.EXPIRED, "delivered", "expired"])
@pytest.mark.parametrize("hour", [3.0, 12.0])
def test_nothing_left_to_learn_after_delivered_or_expired(status, hour):
    now = local(ETA, hour)
    assert check(status, now) is None
    assert next_check(status, now, S) is None


def test_the_window_is_read_in_the_recipients_time_zone():
    now = local(ETA, 10.0, ZoneInfo("Europe/Lisbon"))  # 10:00 in Lisbon, 02:00 in Los Angeles
    lisbon = check(Status.IN_TRANSIT, now, tz="Europe/Lisbon")
    la = check(Status.IN_TRANSIT, now, tz=ZoneInfo("America/Los_Angeles"))
    assert minutes(now, lisbon) <= near * (1 + j)
    assert la.astimezone(ZoneInfo("America/Los_Angeles")).hour == WINDOW_START


def test_the_morning_is_local_across_a_daylight_saving_change():
    # US clocks go forward on 2026-03-08: the window still opens at 07:00 local, not 06:00 or 08:00
    now = local(date(2026, 3, 7), 23.0)
    nxt = check(Status.IN_TRANSIT, now, eta=date(2026, 3, 8)).astimezone(CHICAGO)
    assert nxt.date() == date(2026, 3, 8) and nxt.hour == WINDOW_START


def test_an_unknown_time_zone_falls_back_to_utc_instead_of_failing():
    now = local(ETA, 3.0, timezone.utc)
    nxt = check(Status.IN_TRANSIT, now, tz="Mars/Olympus")
    assert nxt.astimezone(timezone.utc).hour == WINDOW_START


JITTER_CASES = [(Status.IN_TRANSIT, ETA, 10.0), (Status.OUT_FOR_DELIVERY, ETA, 9.0),
                (Status.IN_TRANSIT, ETA - timedelta(days=5), 8.0), (Status.PENDING, ETA - timedelta(days=5), 9.0)]


@pytest.mark.parametrize("status,day,hour", JITTER_CASES)
def test_jitter_spreads_checks_within_its_bounds(status, day, hour):
    now = local(day, hour)
    waits = [minutes(now, check(status, now, seed=seed)) for seed in range(300)]
    mid = (min(waits) + max(waits)) / 2
    assert max(waits) <= mid * (1 + j) * 1.001 and min(waits) >= mid * (1 - j) * 0.999
    assert len({round(w, 3) for w in waits}) > 250  # spread, not bunched
    assert max(waits) - min(waits) > mid * j  # uses most of the allowed spread


def test_without_journey_facts_or_with_adaptive_off_it_is_the_plain_status_interval():
    now = local(ETA, 3.0)
    plain = S.model_copy(update={"jitter": 0.0})
    assert next_check(Status.IN_TRANSIT, now, plain) == now + timedelta(seconds=S.intervals.in_transit)
    off = plain.model_copy(update={"adaptive": False})
    assert check(Status.IN_TRANSIT, now, settings=off) == now + timedelta(seconds=S.intervals.in_transit)


def test_intervals_shorter_than_the_near_eta_interval_are_taken_literally():
    """Demos and process tests squeeze a journey into seconds: no night deferral for them."""
    fast = S.model_copy(update={"jitter": 0.0, "intervals": S.intervals.model_copy(update={"in_transit": 2.0})})
    now = local(ETA - timedelta(days=4), 3.0)
    assert check(Status.IN_TRANSIT, now, settings=fast) == now + timedelta(seconds=2)


# --- config -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("window", ["21:00-07:00", "7-21", "07:00-25:00", "07:00-07:00"])
def test_a_bad_delivery_window_is_named_with_its_fix(window):
    with pytest.raises(ConfigError, match="poller.delivery_window.*HH:MM|poller.delivery_window.*start before"):
        load_config(text=f"poller:\n  delivery_window: \"{window}\"\n")


def test_the_window_is_read_in_the_shops_time_zone_unless_the_poller_names_one():
    s = load_config(text="shop:\n  timezone: America/Chicago\n")
    assert s.poller.timezone == "America/Chicago"
    s = load_config(text="shop:\n  timezone: America/Chicago\npoller:\n  timezone: Europe/Lisbon\n")
    assert s.poller.timezone == "Europe/Lisbon"
    assert parse_window("06:30-24:00") == (parse_window("06:30-24:00")[0], None)


# --- the poller passes the shipment's facts -------------------------------------------------------------

@pytest.mark.parametrize("order_tz,zone", [("Asia/Tokyo", ZoneInfo("Asia/Tokyo")), (None, timezone.utc)])
async def test_the_poller_schedules_in_the_orders_time_zone_else_the_shops(tmp_path, start_daemon, clock,
                                                                           order_tz, zone):
    daemon = await start_daemon(make_settings(tmp_path, poller={"adaptive": True}))
    begun = int((clock.now() - timedelta(hours=3)).timestamp())  # picked up, in transit, ETA two days out
    ship = await add(daemon, "ORDER-TZ", f"SBX-DELIVER-{begun}", timezone=order_tz)
    await daemon.poller.tick()
    row = await shipment(daemon.engine, ship.id)
    assert row.status == "in_transit" and row.expected_delivery is not None
    assert in_window(row.next_check_at, zone)
    assert row.next_check_at - clock.now() >= timedelta(hours=6)  # far from the date: no hurry


def test_retry_after_reads_seconds_and_http_dates_for_carriers_and_providers():
    from datetime import datetime, timezone

    from tracker.retry import retry_after_seconds

    now = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("7", now) == 7
    assert retry_after_seconds("Mon, 02 Mar 2026 14:02:00 GMT", now) == 120
    assert retry_after_seconds("Mon, 02 Mar 2026 13:00:00 GMT", now) == 0  # already past: go now
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None


def test_a_number_the_carrier_does_not_know_yet_is_about_to_be_picked_up_within_the_handling_time():
    # registered at 10:00; the carrier does not know the number yet (pending): the pickup scan, "shipped",
    # is likely within the shop's handling time, so it is looked for every pickup_interval inside the window
    registered = local(ETA - timedelta(days=5), 10.0)
    for hours in (0.5, 5.0, 30.0, S.pickup_expected_hours - 1):
        now = registered + timedelta(hours=hours)
        nxt = check(Status.PENDING, now, eta=None, since=registered)
        assert in_window(nxt)
        if in_window(now) and in_window(now + timedelta(seconds=S.pickup_interval * (1 + S.jitter))):
            assert minutes(now, nxt) <= S.pickup_interval * (1 + S.jitter) / 60
    # past it, a number still unknown is not about to ship: its plain pending interval
    late = local(ETA - timedelta(days=1), 10.0)
    nxt = check(Status.PENDING, late, eta=None, since=registered)
    assert minutes(late, nxt) >= S.intervals.pending * (1 - S.jitter) / 60


async def test_not_found_yet_is_looked_for_at_the_pickup_pace_then_backs_off(start_daemon, tmp_path, clock):
    settings = make_settings(tmp_path, poller={"adaptive": True, "jitter": 0, "delivery_window": "00:00-24:00"})
    daemon = await start_daemon(settings)
    ship = await add(daemon, "ORDER-U", "SBX-NOTFOUND-1")
    await daemon.run_once()
    first = (await shipment(daemon.engine, ship.id)).next_check_at
    assert first - clock.now() == timedelta(seconds=S.pickup_interval)  # not the 6-hour pending backoff
    clock.advance(timedelta(hours=S.pickup_expected_hours))
    await daemon.run_once()
    later = (await shipment(daemon.engine, ship.id)).next_check_at
    assert later - clock.now() > timedelta(seconds=S.pickup_interval)  # past the handling time: backing off


def test_the_pickup_window_follows_the_shops_handling_time_unless_set():
    # a shop that promises four days of handling: an unknown number is about to be picked up for five
    assert Settings().poller.pickup_expected_hours == 72
    assert Settings(watch={"handling_hours": 96}).poller.pickup_expected_hours == 120
    assert Settings(watch={"handling_hours": None}).poller.pickup_expected_hours == 72
    assert Settings(watch={"handling_hours": 96}, poller={"pickup_expected_hours": 30}).poller.pickup_expected_hours == 30
    registered = local(ETA - timedelta(days=5), 10.0)
    slow = Settings(watch={"handling_hours": 96}).poller
    nxt = check(Status.PENDING, registered + timedelta(hours=100), eta=None, since=registered, settings=slow)
    assert minutes(registered + timedelta(hours=100), nxt) <= slow.pickup_interval * (1 + slow.jitter) / 60
