"""The watchers' pure decisions, at their edges."""

from datetime import date, datetime, timedelta, timezone

from tracker.config import WatchSettings
from tracker.watch import View, base_milestone, is_expired, is_late, is_silent, new_estimate, repeat_key, \
    silent_message_due

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)
CFG = WatchSettings()


def view(status="in_transit", last_event_hours_ago=None, **kw) -> View:
    last = None if last_event_hours_ago is None else T0 - timedelta(hours=last_event_hours_ago)
    return View(id=1, status=status, created_at=T0 - timedelta(days=20), last_event_at=last, **kw)


def test_silence_thresholds_per_status_and_registration_counts_when_there_is_no_event():
    assert not is_silent(view(last_event_hours_ago=71.9), T0, CFG)
    assert is_silent(view(last_event_hours_ago=72), T0, CFG)
    assert not is_silent(view("out_for_delivery", 23), T0, CFG) and is_silent(view("out_for_delivery", 24), T0, CFG)
    assert not is_silent(view("exception", 500), T0, CFG)  # off by default: support already chases it
    assert not is_silent(view("delivered", 500), T0, CFG)
    fresh = View(id=1, status="pending", created_at=T0 - timedelta(days=4, hours=23))
    assert not is_silent(fresh, T0, CFG) and is_silent(fresh, T0 + timedelta(hours=1), CFG)


def test_silent_message_at_most_once_per_period():
    v = view(last_event_hours_ago=200)
    assert silent_message_due(v, T0, CFG, last_sent=None)
    assert not silent_message_due(v, T0, CFG, last_sent=T0 - timedelta(hours=71))
    assert silent_message_due(v, T0, CFG, last_sent=T0 - timedelta(hours=72))
    assert [repeat_key("silent", n) for n in (1, 2, 3)] == ["silent", "silent#2", "silent#3"]
    assert base_milestone("silent#3") == "silent" and base_milestone("delayed") == "delayed"


def test_late_is_judged_against_the_first_date_and_a_gone_date_is_no_estimate():
    v = view(first_expected_delivery=date(2026, 3, 1), expected_delivery=date(2026, 3, 4))
    assert not is_late(v, date(2026, 3, 1), CFG) and is_late(v, date(2026, 3, 2), CFG)
    assert new_estimate(v, date(2026, 3, 2)) == date(2026, 3, 4)
    stale = view(first_expected_delivery=date(2026, 3, 1), expected_delivery=date(2026, 3, 1))
    assert new_estimate(stale, date(2026, 3, 2)) is None
    for status in ("exception", "available_for_pickup", "delivered"):
        assert not is_late(view(status, first_expected_delivery=date(2026, 3, 1)), date(2026, 3, 9), CFG)
    assert not is_late(view(first_expected_delivery=None), date(2026, 3, 9), CFG)


def test_expiry_after_the_configured_days_without_news():
    assert not is_expired(view(last_event_hours_ago=30 * 24 - 1), T0, CFG)
    assert is_expired(view(last_event_hours_ago=30 * 24), T0, CFG)
    assert not is_expired(view("delivered", 9999), T0, CFG)
