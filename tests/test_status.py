"""Table-driven tests for every milestone rule of apply() (DESIGN.md, "Status taxonomy")."""

from datetime import datetime, timedelta, timezone

import pytest

from tracker.status import Known, Milestone, Status, TrackingEvent, TrackingResult, announced_from_rows, apply

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
S = Status
M = Milestone


def ev(hours: float, status: Status, code: str | None = None, text: str = "") -> TrackingEvent:
    return TrackingEvent(T0 + timedelta(hours=hours), status, code or status.value[:2].upper(), text or status.value)


def result(*events: TrackingEvent) -> TrackingResult:
    return TrackingResult(number="N1", events=list(events))


def known_after(*events: TrackingEvent, announced: dict | None = None) -> Known:
    """What the database would hold after having recorded these events."""
    latest = max((e for e in events if e.status not in (S.UNKNOWN,)), key=lambda e: e.occurred_at, default=None)
    return Known(
        status=latest.status if latest else S.PENDING,
        status_at=latest.occurred_at if latest else None,
        event_keys=frozenset(e.key for e in events),
        announced=announced or {},
    )


LABEL, PICKUP, HUB = ev(0, S.INFO_RECEIVED), ev(2, S.IN_TRANSIT, "PU"), ev(10, S.IN_TRANSIT, "AR")
OFD, FAIL, OFD2 = ev(20, S.OUT_FOR_DELIVERY), ev(24, S.FAILED_ATTEMPT), ev(44, S.OUT_FOR_DELIVERY, "OD2")
DLV, EXC = ev(48, S.DELIVERED), ev(12, S.EXCEPTION)

CASES = [
    # (name, known, result, expected status, expected milestone, expected superseded)
    ("label only: nothing to announce yet",
     Known(), result(LABEL), S.INFO_RECEIVED, None, []),
    ("first in_transit is 'shipped'",
     known_after(LABEL), result(LABEL, PICKUP), S.IN_TRANSIT, M.SHIPPED, []),
    ("once per shipment: a second in_transit scan says nothing",
     known_after(LABEL, PICKUP, announced={M.SHIPPED: "sent"}), result(LABEL, PICKUP, HUB), S.IN_TRANSIT, None, []),
    ("duplicate events (carriers resend history) are not new",
     known_after(LABEL, PICKUP, announced={M.SHIPPED: "sent"}), result(PICKUP, LABEL, PICKUP), S.IN_TRANSIT, None, []),
    ("out for delivery",
     known_after(LABEL, PICKUP, announced={M.SHIPPED: "sent"}), result(LABEL, PICKUP, OFD), S.OUT_FOR_DELIVERY,
     M.OUT_FOR_DELIVERY, []),
    ("stale dropped: delivered known before out_for_delivery went out -> only delivered",
     known_after(LABEL, PICKUP, announced={M.SHIPPED: "sent"}), result(LABEL, PICKUP, OFD, DLV), S.DELIVERED,
     M.DELIVERED, []),
    ("stale dropped: a still-queued out_for_delivery is superseded by delivered",
     known_after(LABEL, PICKUP, OFD, announced={M.SHIPPED: "sent", M.OUT_FOR_DELIVERY: "queued"}),
     result(LABEL, PICKUP, OFD, DLV), S.DELIVERED, M.DELIVERED, [M.OUT_FOR_DELIVERY]),
    ("a deferred milestone is superseded too",
     known_after(LABEL, PICKUP, announced={M.SHIPPED: "deferred"}), result(LABEL, PICKUP, OFD),
     S.OUT_FOR_DELIVERY, M.OUT_FOR_DELIVERY, [M.SHIPPED]),
    ("a sent milestone is never superseded",
     known_after(LABEL, PICKUP, announced={M.SHIPPED: "sent"}), result(LABEL, PICKUP, OFD),
     S.OUT_FOR_DELIVERY, M.OUT_FOR_DELIVERY, []),
    ("failed attempt then out for delivery again: the second OFD is not announced twice",
     known_after(LABEL, PICKUP, OFD, FAIL, announced={M.SHIPPED: "sent", M.OUT_FOR_DELIVERY: "sent",
                                                      M.FAILED_ATTEMPT: "sent"}),
     result(LABEL, PICKUP, OFD, FAIL, OFD2), S.OUT_FOR_DELIVERY, None, []),
    ("no step backwards: noise after delivered is recorded, not announced, status stays",
     known_after(LABEL, PICKUP, DLV, announced={M.SHIPPED: "sent", M.DELIVERED: "sent"}),
     result(LABEL, PICKUP, DLV, ev(50, S.IN_TRANSIT, "XX")), S.DELIVERED, None, []),
    ("no step backwards: an older scan arriving late is history",
     known_after(LABEL, PICKUP, OFD, announced={M.SHIPPED: "sent", M.OUT_FOR_DELIVERY: "sent"}),
     result(LABEL, PICKUP, OFD, ev(15, S.EXCEPTION, "LATE")), S.OUT_FOR_DELIVERY, None, []),
    ("no step backwards: shipped is not announced after out_for_delivery was",
     known_after(LABEL, OFD, announced={M.OUT_FOR_DELIVERY: "sent"}),
     result(LABEL, OFD, ev(21, S.IN_TRANSIT, "RT")), S.IN_TRANSIT, None, []),
    ("exception is announced",
     known_after(LABEL, PICKUP, announced={M.SHIPPED: "sent"}), result(LABEL, PICKUP, EXC), S.EXCEPTION,
     M.EXCEPTION, []),
    ("exception then in_transit again is allowed (status moves back on track)",
     known_after(LABEL, PICKUP, EXC, announced={M.SHIPPED: "sent", M.EXCEPTION: "sent"}),
     result(LABEL, PICKUP, EXC, ev(14, S.IN_TRANSIT, "RL")), S.IN_TRANSIT, None, []),
    ("exception then in_transit then out for delivery is announced",
     known_after(LABEL, PICKUP, EXC, announced={M.SHIPPED: "sent", M.EXCEPTION: "sent"}),
     result(LABEL, PICKUP, EXC, ev(14, S.IN_TRANSIT, "RL"), OFD), S.OUT_FOR_DELIVERY, M.OUT_FOR_DELIVERY, []),
    ("registered already delivered: silent",
     Known(), result(LABEL, PICKUP, OFD, DLV), S.DELIVERED, None, []),
    ("out-of-order events in one reply are sorted by time",
     known_after(LABEL, announced={}), result(DLV, OFD, LABEL, PICKUP), S.DELIVERED, M.DELIVERED, []),
    ("unknown carrier code: recorded as unknown, status unchanged, nothing announced",
     known_after(LABEL, PICKUP, announced={M.SHIPPED: "sent"}), result(LABEL, PICKUP, ev(5, S.UNKNOWN, "ZZ")),
     S.IN_TRANSIT, None, []),
    ("pickup after a failed attempt",
     known_after(LABEL, PICKUP, OFD, FAIL, announced={M.SHIPPED: "sent", M.OUT_FOR_DELIVERY: "sent",
                                                      M.FAILED_ATTEMPT: "sent"}),
     result(LABEL, PICKUP, OFD, FAIL, ev(26, S.AVAILABLE_FOR_PICKUP)), S.AVAILABLE_FOR_PICKUP,
     M.AVAILABLE_FOR_PICKUP, []),
    ("delivered supersedes a queued silent/delayed message",
     known_after(LABEL, PICKUP, announced={M.SHIPPED: "sent", M.SILENT: "queued"}),
     result(LABEL, PICKUP, DLV), S.DELIVERED, M.DELIVERED, [M.SILENT]),
]


@pytest.mark.parametrize("known,res,status,milestone,superseded", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_apply_rules(known, res, status, milestone, superseded):
    outcome = apply(known, res)
    assert outcome.status is status
    assert outcome.milestone == milestone
    assert outcome.supersede == superseded


def test_new_events_are_only_the_unseen_ones_in_time_order():
    outcome = apply(known_after(LABEL, PICKUP), result(OFD, PICKUP, LABEL, HUB))
    assert [e.raw_code for e in outcome.new_events] == ["AR", "OU"]


def test_unknown_codes_are_reported_for_the_log():
    outcome = apply(Known(), result(LABEL, ev(1, S.UNKNOWN, "Q7")))
    assert outcome.unknown_codes == ["Q7"]
    assert outcome.status is S.INFO_RECEIVED


def test_event_key_ignores_whitespace_noise_but_not_content():
    a = TrackingEvent(T0, S.IN_TRANSIT, "AR", "Arrived  at hub", "Chicago")
    b = TrackingEvent(T0, S.IN_TRANSIT, "AR", "Arrived at hub ", "Chicago")
    c = TrackingEvent(T0, S.IN_TRANSIT, "AR", "Arrived at hub", "Denver")
    assert a.key == b.key != c.key


def test_announced_from_rows_unsent_only_while_every_channel_is_unsent():
    rows = [("shipped", "queued"), ("shipped", "sent"), ("delivered", "deferred")]
    assert announced_from_rows(rows) == {M.SHIPPED: "sent", M.DELIVERED: "deferred"}


def test_a_status_given_without_scans_moves_a_pending_shipment():
    from tracker.status import Known, TrackingResult, apply

    now = datetime(2026, 3, 7, 12, tzinfo=timezone.utc)
    shipped = apply(Known(), TrackingResult(number="N", carrier_status=Status.IN_TRANSIT), now)
    assert shipped.status is Status.IN_TRANSIT and shipped.milestone is Milestone.SHIPPED
    assert shipped.new_events[0].occurred_at == now and shipped.new_events[0].status is Status.IN_TRANSIT
    # the same summary again, once the shipment is in transit, adds nothing
    known = Known(status=Status.IN_TRANSIT, status_at=now, event_keys=frozenset({shipped.new_events[0].key}),
                  announced={Milestone.SHIPPED: "sent"})
    assert not apply(known, TrackingResult(number="N", carrier_status=Status.IN_TRANSIT), now).changed
    # a summary behind what the scans said is no step backwards
    ahead = Known(status=Status.OUT_FOR_DELIVERY, status_at=now, event_keys=frozenset({"k"}))
    assert apply(ahead, TrackingResult(number="N", carrier_status=Status.IN_TRANSIT), now).status \
        is Status.OUT_FOR_DELIVERY
    held = apply(known, TrackingResult(number="N", carrier_status=Status.EXCEPTION), now)
    assert held.status is Status.EXCEPTION and held.milestone is Milestone.EXCEPTION
    delivered = apply(known, TrackingResult(number="N", carrier_status=Status.DELIVERED), now)
    assert delivered.status is Status.DELIVERED and delivered.milestone is Milestone.DELIVERED
