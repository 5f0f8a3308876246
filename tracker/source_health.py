"""How each push source is doing, read from the database (every daemon writes it): subscriptions by
state, registration quota, failures, pushes nobody registered. Shown by `tracker status --carriers`,
/metrics and the support console."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from tracker.db import sessionmaker
from tracker.models import SourceState, SourceSubscription

STATES = ("pending", "active", "stopping", "stopped", "failed")


@dataclass
class SourceHealth:
    source: str
    subscriptions: dict[str, int] = field(default_factory=dict)
    quota_remaining: int | None = None
    quota_total: int | None = None
    failing_since: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    pushes_unmatched: int = 0

    @property
    def state(self) -> str:
        if self.quota_remaining is not None and self.quota_remaining <= 0:
            return "NO QUOTA"
        return "FAILING" if self.failing_since else "ok"

    @property
    def summary(self) -> str:
        subs = ", ".join(f"{self.subscriptions.get(s, 0)} {s}" for s in STATES if self.subscriptions.get(s))
        parts = [subs or "no subscriptions"]
        if self.quota_remaining is not None:
            parts.append(f"quota {self.quota_remaining}" + (f"/{self.quota_total}" if self.quota_total else "") + " left")
        if self.pushes_unmatched:
            parts.append(f"{self.pushes_unmatched} pushes for unknown numbers")
        if self.failing_since:
            parts.append(f"failing {self.failures}x: {self.last_error}")
        return "; ".join(parts)


async def source_health(engine, sources: list[str]) -> list[SourceHealth]:
    out = {name: SourceHealth(name) for name in sources}
    async with sessionmaker(engine)() as session:
        for source, state, n in await session.execute(
                select(SourceSubscription.source, SourceSubscription.state, func.count())
                .group_by(SourceSubscription.source, SourceSubscription.state)):
            out.setdefault(source, SourceHealth(source)).subscriptions[state] = n
        for st in (await session.execute(select(SourceState))).scalars():
            h = out.setdefault(st.source, SourceHealth(st.source))
            h.quota_remaining, h.quota_total = st.quota_remaining, st.quota_total
            h.failing_since, h.failures, h.last_error = st.failing_since, st.failures, st.last_error
            h.pushes_unmatched = st.pushes_unmatched
    return [out[k] for k in sorted(out)]
