"""The status vocabulary and the milestone rules. Pure: no IO, no clock, no database.

Every carrier normalizes its own codes into `Status` at the edge (its `parse()`); from there on the
whole program speaks this vocabulary. `apply()` takes what we already know about a shipment and a fresh
`TrackingResult` and says what is new: the events to record, the status to show, and the one milestone
(if any) the customer should hear about.

Milestone rules (DESIGN.md):
- each milestone at most once per shipment (the outbox's UNIQUE key enforces it per channel too);
- never a step backwards: noise after `delivered` is recorded, not announced; an older event arriving
  late is history, not news; `exception` then `in_transit` again is allowed;
- stale milestones are not sent: only the newest news goes out, and news still waiting in the outbox
  (queued or deferred) is superseded by newer news;
- a shipment whose first sight is already `delivered` announces nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from tracker.plaintext import clean


class Status(StrEnum):
    PENDING = "pending"
    INFO_RECEIVED = "info_received"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    FAILED_ATTEMPT = "failed_attempt"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    EXPIRED = "expired"
    # Only ever on an event: a carrier code we do not know. Logged, recorded, never announced.
    UNKNOWN = "unknown"


class Milestone(StrEnum):
    SHIPPED = "shipped"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    FAILED_ATTEMPT = "failed_attempt"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    DELAYED = "delayed"
    SILENT = "silent"


MILESTONE_OF_STATUS: dict[Status, Milestone] = {
    Status.IN_TRANSIT: Milestone.SHIPPED,
    Status.OUT_FOR_DELIVERY: Milestone.OUT_FOR_DELIVERY,
    Status.AVAILABLE_FOR_PICKUP: Milestone.AVAILABLE_FOR_PICKUP,
    Status.FAILED_ATTEMPT: Milestone.FAILED_ATTEMPT,
    Status.DELIVERED: Milestone.DELIVERED,
    Status.EXCEPTION: Milestone.EXCEPTION,
}

# Forward order of the journey. A ranked milestone at or below the highest one already announced is a
# step backwards and stays silent. Exception, delayed and silent are not on this ladder: they may come
# at any point before delivery.
RANK: dict[Milestone, int] = {
    Milestone.SHIPPED: 1,
    Milestone.OUT_FOR_DELIVERY: 2,
    Milestone.FAILED_ATTEMPT: 3,
    Milestone.AVAILABLE_FOR_PICKUP: 4,
    Milestone.DELIVERED: 5,
}

# Statuses where polling stops.
FINAL_STATUSES = frozenset({Status.DELIVERED, Status.EXPIRED})
# Statuses a shipment can be "stuck" in from the shop's point of view.
PROBLEM_STATUSES = frozenset({Status.EXCEPTION, Status.FAILED_ATTEMPT, Status.EXPIRED})


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    """One carrier scan, normalized. `occurred_at` is aware UTC; the carrier's own offset is kept."""

    occurred_at: datetime
    status: Status
    raw_code: str
    raw_text: str = ""
    location: str = ""
    utc_offset_minutes: int | None = None

    def __post_init__(self) -> None:
        # the parse edge of every carrier and aggregator, polled or pushed: their text reaches log lines,
        # the operator's terminal, SMS and emails, so no control, break, direction or invisible character
        for name in ("raw_code", "raw_text", "location"):
            value = getattr(self, name)
            if value:
                object.__setattr__(self, name, clean(str(value)))

    @property
    def key(self) -> str:
        """Identity of the scan across polls: carriers resend their whole history every time."""
        basis = "|".join(
            (self.occurred_at.isoformat(), self.raw_code.strip(), " ".join(self.raw_text.split()),
             " ".join(self.location.split()))
        )
        return hashlib.sha1(basis.encode()).hexdigest()[:20]


@dataclass(slots=True)
class TrackingResult:
    """What a carrier knows about one tracking number, in our vocabulary."""

    number: str
    events: list[TrackingEvent] = field(default_factory=list)
    expected_delivery: date | None = None
    signed_by: str | None = None
    pickup_location: str | None = None
    pickup_until: date | None = None
    carrier_status: Status | None = None
    # Local time window of today's delivery, "HH:MM-HH:MM", where the carrier gives one (out for delivery).
    delivery_window: str | None = None

    def __post_init__(self) -> None:
        for name in ("signed_by", "pickup_location", "delivery_window"):  # as TrackingEvent's text
            value = getattr(self, name)
            if value:
                setattr(self, name, clean(str(value)) or None)

    @property
    def latest(self) -> TrackingEvent | None:
        known = [e for e in self.events if e.status is not Status.UNKNOWN]
        return max(known, key=lambda e: e.occurred_at) if known else None


# Outbox states in which a notification has not left yet and can still be replaced by newer news.
UNSENT_STATES = frozenset({"queued", "deferred"})


@dataclass(frozen=True, slots=True)
class Known:
    """What the database already holds about a shipment, as far as `apply` needs it."""

    status: Status = Status.PENDING
    status_at: datetime | None = None
    event_keys: frozenset[str] = frozenset()
    # milestone -> the outbox state of its notifications ("queued", "sent", "suppressed", ...)
    announced: Mapping[Milestone, str] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    new_events: list[TrackingEvent]
    status: Status
    status_at: datetime | None
    milestone: Milestone | None
    supersede: list[Milestone]
    unknown_codes: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.new_events) or self.milestone is not None


# How far along the journey each status is, for a status given without a scan (see status_event).
PROGRESS = {Status.PENDING: 0, Status.EXPIRED: 0, Status.INFO_RECEIVED: 1, Status.IN_TRANSIT: 2,
             Status.EXCEPTION: 2, Status.OUT_FOR_DELIVERY: 3, Status.FAILED_ATTEMPT: 4,
             Status.AVAILABLE_FOR_PICKUP: 5, Status.DELIVERED: 6}


def status_event(known: Known, result: TrackingResult, now: datetime | None) -> TrackingEvent | None:
    """A carrier status given without any scan (FedEx latestStatusDetail, UPS currentStatus, USPS
    statusCategory) as an event seen `now`, when it takes the shipment further than it is."""
    status = result.carrier_status
    if result.events or now is None or status is None or status not in PROGRESS:
        return None
    if known.status is Status.DELIVERED or status is known.status:
        return None
    if PROGRESS[status] <= PROGRESS.get(known.status, 0) and status is not Status.EXCEPTION:
        return None  # behind what the scans said (an exception may come at any point before delivery)
    return TrackingEvent(occurred_at=now, status=status, raw_code="-",
                         raw_text=f"{status.value.replace('_', ' ')} (the carrier's status, given without a scan)")


def apply(known: Known, result: TrackingResult, now: datetime | None = None) -> Outcome:
    """Fold a fresh carrier result into what we know. Pure and deterministic. `now` dates a status the
    carrier gives without any scan."""
    seen: set[str] = set(known.event_keys)
    new_events: list[TrackingEvent] = []
    bare = status_event(known, result, now)
    for event in sorted(result.events or ([bare] if bare else []), key=lambda e: e.occurred_at):
        if event.key not in seen:
            seen.add(event.key)
            new_events.append(event)

    first_sight = not known.event_keys
    status, status_at = known.status, known.status_at
    reached = max((RANK.get(m, 0) for m in known.announced), default=0)
    candidates: list[Milestone] = []
    for event in new_events:
        if event.status in (Status.UNKNOWN, Status.PENDING, Status.EXPIRED):
            continue
        if status is Status.DELIVERED:
            break  # noise after delivery is recorded, never announced, never changes the status
        if status_at is not None and event.occurred_at < status_at:
            continue  # an older scan arriving late is history, not news
        status, status_at = event.status, event.occurred_at
        milestone = MILESTONE_OF_STATUS.get(event.status)
        if milestone is None or milestone in known.announced or milestone in candidates:
            continue
        rank = RANK.get(milestone)
        if rank is not None:
            if rank <= reached:
                continue
            reached = rank
        candidates.append(milestone)

    milestone = candidates[-1] if candidates else None
    if first_sight and status is Status.DELIVERED:
        milestone = None  # registered already delivered: nothing to tell
    supersede = []
    if milestone is not None:
        supersede = [m for m, state in known.announced.items() if state in UNSENT_STATES]
    return Outcome(
        new_events=new_events,
        status=status,
        status_at=status_at,
        milestone=milestone,
        supersede=supersede,
        unknown_codes=[e.raw_code for e in new_events if e.status is Status.UNKNOWN],
    )


def announced_from_rows(rows: Iterable[tuple[str, str]]) -> dict[Milestone, str]:
    """Collapse (milestone, state) outbox rows of one shipment into one state per milestone.

    A milestone counts as unsent only while every channel's row for it is unsent.
    """
    out: dict[Milestone, str] = {}
    for milestone, state in rows:
        # Repeats of a milestone carry a suffix ("silent#2"); keys that are no milestone ("follow_up") are
        # not news about the parcel.
        try:
            m = Milestone(milestone.split("#", 1)[0])
        except ValueError:
            continue
        if m not in out or out[m] in UNSENT_STATES:
            out[m] = state
    return out
