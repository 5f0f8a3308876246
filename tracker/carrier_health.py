"""How each carrier is doing, read from the database (every daemon writes it): paused for refused
credentials, or failing since when, with the last error and the next try. Shown by `tracker status
--carriers`, on an order's story, /metrics and the support console's attention list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from tracker.db import sessionmaker
from tracker.models import CarrierState, Shipment


@dataclass
class CarrierHealth:
    carrier: str
    paused_reason: str | None = None
    failing_since: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    next_try_at: datetime | None = None

    @property
    def state(self) -> str:
        return "PAUSED" if self.paused_reason else "FAILING" if self.failing_since else "ok"

    def summary(self, t=lambda dt: dt.strftime("%Y-%m-%d %H:%M UTC")) -> str:
        """One line for people: since when, how many calls failed, the last error, the next try."""
        if self.state == "ok":
            return ""
        parts = [f"since {t(self.failing_since)}" if self.failing_since else "",
                 f"{self.failures} failed call{'s' if self.failures != 1 else ''}",
                 f"last error: {self.last_error or self.paused_reason}"]
        if self.next_try_at:
            parts.append(f"next try {t(self.next_try_at)}")
        return "; ".join(p for p in parts if p)


async def carrier_health(engine, carriers: list[str]) -> list[CarrierHealth]:
    out = {name: CarrierHealth(name) for name in carriers}
    async with sessionmaker(engine)() as session:
        states = list((await session.execute(
            select(CarrierState).where(CarrierState.carrier.in_(carriers)))).scalars())
        troubled = [st.carrier for st in states if st.failing_since or st.paused_reason]
        # without a pause or a rate limit, the next try is the carrier's next due check
        due = dict((await session.execute(
            select(Shipment.source, func.min(Shipment.next_check_at))
            .where(Shipment.source.in_(troubled), Shipment.next_check_at.is_not(None))
            .group_by(Shipment.source))).all()) if troubled else {}
    for st in states:
        h = out[st.carrier]
        h.paused_reason, h.failing_since, h.failures = st.paused_reason, st.failing_since, st.failures
        h.last_error = st.last_error
        h.next_try_at = st.next_try_at or as_time(due.get(st.carrier))
    return [out[k] for k in carriers]


def as_time(value):
    """SQLite's MIN() returns the stored text: read it back as an aware UTC time."""
    from datetime import timezone

    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value)).replace(tzinfo=timezone.utc)
