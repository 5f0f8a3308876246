"""`tracker report --since 30d`: how each carrier did, as a terminal table or an HTML page with charts.

Figures per carrier, over the shipments registered in the window:

    shipments       registered in the window
    on time         delivered on or before the FIRST expected date the carrier gave (shop time zone), out of
                    the delivered shipments that had such a date
    median transit  days from the first in-transit scan (registration when there is none) to delivery
    exceptions      shipments with at least one exception event, out of all shipments
    notifications   sent (left us: sent or delivered), delivered (confirmed by the provider), failed
    rating          average of the follow-up ratings

`figures()` is pure; `load()` reads the rows; `table()` and `html()` present them.
"""

from __future__ import annotations

import html as _html
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from tracker.db import sessionmaker
from tracker.models import Notification, Rating, Shipment, TrackingEventRow

SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hdw])\s*$")


def parse_since(text: str) -> timedelta:
    """'30d' -> 30 days; also h (hours) and w (weeks). Raises ValueError with the accepted forms."""
    m = SINCE.match(text or "")
    if not m:
        raise ValueError(f"{text!r} is not a duration; use a number and a unit, e.g. 30d, 12h or 2w")
    n, unit = float(m.group(1)), m.group(2)
    return timedelta(hours=n) if unit == "h" else timedelta(days=n * (7 if unit == "w" else 1))


@dataclass(frozen=True, slots=True)
class ShipmentFacts:
    carrier: str
    first_expected: date | None = None
    delivered_at: datetime | None = None
    transit_start: datetime | None = None  # first in-transit scan, else registration
    had_exception: bool = False
    notes: tuple[str, ...] = ()  # outbox states of its notifications
    rating: int | None = None


@dataclass
class CarrierFigures:
    carrier: str
    shipments: int = 0
    delivered: int = 0
    on_time: int = 0
    dated: int = 0  # delivered with a first expected date
    transit_days: list[float] = field(default_factory=list)
    exceptions: int = 0
    sent: int = 0
    delivered_notes: int = 0
    failed: int = 0
    ratings: list[int] = field(default_factory=list)

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.dated if self.dated else None

    @property
    def median_transit_days(self) -> float | None:
        return statistics.median(self.transit_days) if self.transit_days else None

    @property
    def exception_rate(self) -> float | None:
        return self.exceptions / self.shipments if self.shipments else None

    @property
    def average_rating(self) -> float | None:
        return sum(self.ratings) / len(self.ratings) if self.ratings else None


def figures(facts: list[ShipmentFacts], tz: ZoneInfo) -> list[CarrierFigures]:
    by: dict[str, CarrierFigures] = {}
    for f in facts:
        c = by.setdefault(f.carrier, CarrierFigures(f.carrier))
        c.shipments += 1
        c.exceptions += int(f.had_exception)
        if f.delivered_at is not None:
            c.delivered += 1
            if f.first_expected is not None:
                c.dated += 1
                c.on_time += int(f.delivered_at.astimezone(tz).date() <= f.first_expected)
            if f.transit_start is not None:
                c.transit_days.append((f.delivered_at - f.transit_start).total_seconds() / 86400)
        for state in f.notes:
            c.sent += int(state in ("sent", "delivered"))
            c.delivered_notes += int(state == "delivered")
            c.failed += int(state == "failed")
        if f.rating is not None:
            c.ratings.append(f.rating)
    return [by[k] for k in sorted(by)]


async def load(engine, since: datetime) -> list[ShipmentFacts]:
    S, E = Shipment, TrackingEventRow
    async with sessionmaker(engine)() as session:
        ships = (await session.execute(select(S).where(S.created_at >= since))).scalars().all()
        ids = [s.id for s in ships]
        if not ids:
            return []
        starts = dict((await session.execute(
            select(E.shipment_id, func.min(E.occurred_at)).where(E.shipment_id.in_(ids), E.status == "in_transit")
            .group_by(E.shipment_id))).all())
        exceptions = {sid for (sid,) in await session.execute(
            select(E.shipment_id).where(E.shipment_id.in_(ids), E.status == "exception").distinct())}
        notes: dict[int, list[str]] = defaultdict(list)
        for sid, state in await session.execute(
                select(Notification.shipment_id, Notification.state).where(Notification.shipment_id.in_(ids))):
            notes[sid].append(state)
        ratings = dict((await session.execute(
            select(Rating.shipment_id, Rating.score).where(Rating.shipment_id.in_(ids)))).all())
    def start_of(s: Shipment) -> datetime:
        return starts.get(s.id) or s.created_at  # MIN() keeps the column type: aware UTC

    return [ShipmentFacts(carrier=s.carrier, first_expected=s.first_expected_delivery, delivered_at=s.delivered_at,
                          transit_start=start_of(s), had_exception=s.id in exceptions,
                          notes=tuple(notes.get(s.id, ())), rating=ratings.get(s.id)) for s in ships]


# --- presentation -----------------------------------------------------------------------------------

def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def _num(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


COLUMNS = ("carrier", "shipments", "on time", "median transit (days)", "exceptions", "notifications sent",
           "delivered", "failed", "avg rating")


def rows(figs: list[CarrierFigures]) -> list[tuple[str, ...]]:
    return [(f.carrier, str(f.shipments), _pct(f.on_time_rate) + (f" ({f.on_time}/{f.dated})" if f.dated else ""),
             _num(f.median_transit_days), _pct(f.exception_rate), str(f.sent), str(f.delivered_notes), str(f.failed),
             _num(f.average_rating) + (f" ({len(f.ratings)})" if f.ratings else ""))
            for f in figs]


def text_table(title: str, columns: tuple[str, ...], body: list[tuple[str, ...]], *, left: int = 1) -> str:
    """A terminal table: the first `left` columns aligned left, the others right."""
    widths = [max(len(columns[i]), *(len(r[i]) for r in body)) for i in range(len(columns))]
    line = lambda cells: "  ".join(c.ljust(w) if i < left else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([title, line(columns), line(["-" * w for w in widths]), *(line(r) for r in body)])


def table(figs: list[CarrierFigures], title: str) -> str:
    body = rows(figs)
    if not body:
        return f"{title}\n(no shipments registered in this period)"
    return text_table(title, COLUMNS, body)


def _bars(title: str, items: list[tuple[str, float | None]], fmt, maximum: float | None = None) -> str:
    """A horizontal bar chart as inline SVG."""
    known = [v for _, v in items if v is not None]
    top = maximum or (max(known) if known else 1) or 1
    h = 26 * len(items) + 36
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="520" height="{h}" role="img" '
             f'aria-label="{_html.escape(title)}"><text x="0" y="16" font-weight="bold">{_html.escape(title)}</text>']
    for i, (label, v) in enumerate(items):
        y = 30 + 26 * i
        w = 0 if v is None else max(1, int(300 * v / top))
        parts.append(f'<text x="0" y="{y + 14}">{_html.escape(label)}</text>'
                     f'<rect x="130" y="{y}" width="{w}" height="18" fill="#2563eb"/>'
                     f'<text x="{136 + w}" y="{y + 14}">{_html.escape(fmt(v))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html(figs: list[CarrierFigures], title: str) -> str:
    head = "".join(f"<th>{_html.escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{_html.escape(c)}</td>" for c in r) + "</tr>" for r in rows(figs))
    charts = [
        _bars("On-time rate (first expected date)", [(f.carrier, f.on_time_rate) for f in figs], _pct, 1.0),
        _bars("Median transit, days", [(f.carrier, f.median_transit_days) for f in figs], _num),
        _bars("Exception rate", [(f.carrier, f.exception_rate) for f in figs], _pct, 1.0),
        _bars("Notifications failed", [(f.carrier, float(f.failed)) for f in figs], lambda v: f"{v:.0f}"),
        _bars("Average rating (1-5)", [(f.carrier, f.average_rating) for f in figs], _num, 5.0),
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;color:#1c1917}}table{{border-collapse:collapse}}
td,th{{border:1px solid #d6d3d1;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
svg{{display:block;margin:18px 0;font-size:13px}}</style></head>
<body><h1>{_html.escape(title)}</h1>
<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td colspan="9">no shipments in this period</td></tr>'}</tbody></table>
{''.join(charts)}
</body></html>
"""
