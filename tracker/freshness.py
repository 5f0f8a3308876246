"""How late the news is: for every message, the carrier's event time (`notifications.event_at`), when tracker
heard it (`heard_at`, by poll or push: `heard_via`) and when the provider took the message (`sent_at`).

`Tally` turns the messages sent since this process started into /metrics histograms per source, way
heard and milestone (heard - event, sent - heard), reading only the new rows each time (ix_notifications_sent_at);
every daemon counts every message of the database, as the other gauges do. `load()` and `table()` give
`tracker report` its p50/p90 per carrier and source over a period.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from tracker.carrier_health import as_time
from tracker.db import sessionmaker
from tracker.models import Notification, Shipment
from tracker.report import text_table

# seconds: a pushed source tells within seconds, a polled one within the hour
BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0, math.inf)
MEASURES = {
    "tracker_news_heard_seconds": "Seconds from the carrier's event to tracker hearing of it (poll or push), for "
                                  "each message sent since this process started, by source, way heard and milestone.",
    "tracker_news_sent_seconds": "Seconds from tracker hearing of the news to the provider taking the message.",
}


@dataclass(frozen=True, slots=True)
class Fresh:
    carrier: str
    source: str
    via: str  # poll | push
    milestone: str
    heard: float | None  # seconds from the carrier's event to tracker hearing of it
    sent: float  # seconds from hearing to the provider taking the message


def _query(since: datetime, until: datetime | None, at_least: bool = False):
    N, S = Notification, Shipment
    return (select(N.id, S.carrier, S.source, N.heard_via, N.milestone, N.event_at, N.heard_at, N.sent_at)
            .join(S, S.id == N.shipment_id)
            .where(N.sent_at >= since if at_least else N.sent_at > since, N.heard_at.is_not(None),
                   *(() if until is None else (N.sent_at <= until,))))


def _fresh(row) -> Fresh:
    _, carrier, source, via, milestone, event_at, heard_at, sent_at = row
    event_at, heard_at, sent_at = as_time(event_at), as_time(heard_at), as_time(sent_at)
    return Fresh(carrier=carrier, source=source or carrier, via=via or "poll", milestone=milestone.split("#")[0],
                 heard=None if event_at is None else max(0.0, (heard_at - event_at).total_seconds()),
                 sent=max(0.0, (sent_at - heard_at).total_seconds()))


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0

    def observe(self, value: float) -> None:
        for i, le in enumerate(BUCKETS):
            if value <= le:
                self.counts[i] += 1
        self.total += value


@dataclass
class Tally:
    """Histograms of the messages sent since `mark` (the process's start), kept up to date by `update()`."""

    mark: datetime
    at_mark: set[int] = field(default_factory=set)  # rows sent exactly at `mark`, already counted
    hists: dict[tuple[str, str, str, str], Histogram] = field(default_factory=dict)

    async def update(self, engine) -> None:
        async with sessionmaker(engine)() as session:
            rows = (await session.execute(_query(self.mark, None, at_least=True).order_by(Notification.sent_at))).all()
        for row in rows:
            if row[0] in self.at_mark:
                continue
            f, sent_at = _fresh(row), as_time(row[7])
            if sent_at > self.mark:
                self.mark, self.at_mark = sent_at, set()
            self.at_mark.add(row[0])
            labels = (f.source, f.via, f.milestone)
            if f.heard is not None:
                self.hists.setdefault(("tracker_news_heard_seconds", *labels), Histogram()).observe(f.heard)
            self.hists.setdefault(("tracker_news_sent_seconds", *labels), Histogram()).observe(f.sent)


async def load(engine, since: datetime, until: datetime) -> list[Fresh]:
    async with sessionmaker(engine)() as session:
        return [_fresh(row) for row in (await session.execute(_query(since, until, at_least=True))).all()]


def _p(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


COLUMNS = ("carrier", "source", "heard by", "messages", "heard p50", "heard p90", "sent p50", "sent p90")


def table(rows: list[Fresh], title: str) -> str:
    """p50/p90 per carrier, source and way heard: event -> heard, heard -> sent."""
    groups: dict[tuple[str, str, str], list[Fresh]] = {}
    for f in rows:
        groups.setdefault((f.carrier, f.source, f.via), []).append(f)
    if not groups:
        return f"{title}\n(no message about carrier news sent in this period)"
    body = []
    for (carrier, source, via), items in sorted(groups.items()):
        heard = [f.heard for f in items if f.heard is not None]
        sent = [f.sent for f in items]
        body.append((carrier, source, via, str(len(items)), _duration(_p(heard, 50)), _duration(_p(heard, 90)),
                     _duration(_p(sent, 50)), _duration(_p(sent, 90))))
    return text_table(title, COLUMNS, body, left=3)
