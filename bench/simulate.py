"""Benchmark 5: polling policies on a simulated clock over realistic journeys (pure Python, no database).

    .venv/bin/python bench/simulate.py --journeys 10000 --seed 7

Each journey is drawn once, then replayed against each policy: a carrier request is a poll; a message is
late by the time between the carrier's event and the first poll that sees it. Policies:
  adaptive   tracker.schedule.next_check with the default PollerSettings (or --config FILE's poller:)
  fixed 30m  every 30 minutes, day and night
  fixed 2h   every 2 hours, day and night
Every policy stops at delivered. The journeys do not know about the policy.

Journeys (recipient time zones across the US, shop in New York; 20% of orders carry no time zone, so the
shop's is used for them):
  label created on a business-hours moment (the carrier knows it at once: info_received);
  picked up 15:00-19:00 the same day (if labelled before 15:00) or 1-3 days later;
  hub scans every 6-18 h; 2-7 calendar days in transit; arrival scan 02:00-06:00 on delivery day;
  out for delivery 06:30-10:30 local (mode 08:00); delivered 0.5-10 h later (mode 3 h), by 20:45;
  6% fail the first attempt (failed_attempt), go out again the next morning and are delivered;
  the carrier gives an expected date from pickup on: 10% none, 12% a day too early (parcel late),
  6% a day too late (parcel early), otherwise right; it never revises it.
"""

from __future__ import annotations

import argparse
import bisect
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.config import PollerSettings, load_settings  # noqa: E402
from tracker.schedule import next_check  # noqa: E402
from tracker.status import Status  # noqa: E402

SHOP_TZ = "America/New_York"
ZONES = [("America/New_York", 0.45), ("America/Chicago", 0.28), ("America/Denver", 0.07),
         ("America/Phoenix", 0.04), ("America/Los_Angeles", 0.16)]
UTC = timezone.utc


@dataclass
class Journey:
    registered: datetime
    times: list[datetime]          # carrier events, sorted (UTC)
    statuses: list[Status]
    eta_from: datetime             # the carrier gives its date from pickup on
    eta: date | None
    tz: str | None                 # on the order (None: the shop's is used)
    first: dict[Status, datetime]  # first event of each status


def _local(day: date, hours: float, zone: ZoneInfo) -> datetime:
    return (datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(hours=hours)).astimezone(UTC)


def make_journey(rng: random.Random, start: date) -> Journey:
    shop = ZoneInfo(SHOP_TZ)
    name = rng.choices([z for z, _ in ZONES], [w for _, w in ZONES])[0]
    zone = ZoneInfo(name)
    day = start + timedelta(days=rng.randrange(28))
    while day.weekday() >= 5:
        day += timedelta(days=1)
    reg_hour = rng.uniform(9, 18)
    registered = _local(day, reg_hour, shop)
    events: list[tuple[datetime, Status]] = [(registered, Status.INFO_RECEIVED)]

    wait_days = rng.choices([0, 1, 2, 3], [0.55, 0.30, 0.10, 0.05])[0]
    if wait_days == 0 and reg_hour > 15:
        wait_days = 1
    pickup_day = day + timedelta(days=wait_days)
    pickup = max(_local(pickup_day, rng.uniform(15, 19), shop), registered + timedelta(hours=1))
    events.append((pickup, Status.IN_TRANSIT))

    delivery_day = pickup.astimezone(zone).date() + timedelta(days=rng.randint(2, 7))
    arrival = _local(delivery_day, rng.uniform(2, 6), zone)
    t = pickup + timedelta(hours=rng.uniform(6, 18))
    while t < arrival - timedelta(hours=2):
        events.append((t, Status.IN_TRANSIT))
        t += timedelta(hours=rng.uniform(6, 18))
    events.append((arrival, Status.IN_TRANSIT))

    def attempt(d: date) -> tuple[datetime, datetime]:
        ofd = _local(d, rng.triangular(6.5, 10.5, 8), zone)
        done = ofd + timedelta(hours=rng.triangular(0.5, 10, 3))
        return ofd, min(done, _local(d, 20.75, zone))

    ofd, done = attempt(delivery_day)
    events.append((ofd, Status.OUT_FOR_DELIVERY))
    if rng.random() < 0.06:
        events.append((done, Status.FAILED_ATTEMPT))
        delivery_day += timedelta(days=1)
        ofd, done = attempt(delivery_day)
        events.append((ofd, Status.OUT_FOR_DELIVERY))
    events.append((done, Status.DELIVERED))

    roll = rng.random()
    if roll < 0.10:
        eta = None
    elif roll < 0.22:
        eta = delivery_day - timedelta(days=1)
    elif roll < 0.28:
        eta = delivery_day + timedelta(days=1)
    else:
        eta = delivery_day
    events.sort(key=lambda e: e[0])
    first: dict[Status, datetime] = {}
    for when, status in events:
        first.setdefault(status, when)
    return Journey(registered, [e[0] for e in events], [e[1] for e in events], pickup, eta,
                   name if rng.random() < 0.8 else None, first)


def run(journey: Journey, policy, horizon: timedelta = timedelta(days=60)) -> tuple[int, list[datetime]]:
    """Replay one journey under a policy. Returns (requests, poll times)."""
    t = journey.registered
    polls: list[datetime] = []
    end = journey.registered + horizon
    while t is not None and t < end:
        polls.append(t)
        i = bisect.bisect_right(journey.times, t) - 1
        status = journey.statuses[i] if i >= 0 else Status.PENDING
        if status is Status.DELIVERED:
            break
        eta = journey.eta if t >= journey.eta_from else None
        t = policy(status, t, journey, eta)
    return len(polls), polls


def seen_after(polls: list[datetime], when: datetime) -> float:
    """Minutes from an event to the first poll at or after it."""
    i = bisect.bisect_left(polls, when)
    return (polls[i] - when).total_seconds() / 60 if i < len(polls) else float("inf")


def fixed(seconds: float):
    step = timedelta(seconds=seconds)
    return lambda status, t, journey, eta: t + step


def adaptive(settings: PollerSettings, rng: random.Random):
    shop_tz = settings.timezone or SHOP_TZ

    def policy(status, t, journey, eta):
        return next_check(status, t, settings, rng, expected_delivery=eta, tz=journey.tz or shop_tz,
                          since=journey.registered)
    return policy


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--config", help="take the adaptive policy's settings from this config.yaml's poller:")
    args = parser.parse_args()
    settings = load_settings(args.config).poller if args.config else PollerSettings()
    started = time.perf_counter()
    rng = random.Random(args.seed)
    journeys = [make_journey(rng, date(2026, 2, 23)) for _ in range(args.journeys)]
    policies = [("adaptive (default)", adaptive(settings, random.Random(args.seed + 1))),
                ("fixed every 30 min", fixed(1800)), ("fixed every 2 h", fixed(7200))]
    rows = []
    for name, policy in policies:
        requests, ofd, dl, shipped, ofd_superseded = 0, [], [], [], 0
        for j in journeys:
            n, polls = run(j, policy)
            requests += n
            ofd_at = seen_after(polls, j.first[Status.OUT_FOR_DELIVERY])
            dl_at = seen_after(polls, j.first[Status.DELIVERED])
            ofd.append(ofd_at)
            dl.append(dl_at)
            shipped.append(seen_after(polls, j.first[Status.IN_TRANSIT]))
            if polls[bisect.bisect_left(polls, j.first[Status.OUT_FOR_DELIVERY])] >= j.first[Status.DELIVERED]:
                ofd_superseded += 1  # delivered already when the out-for-delivery news was seen: never sent
        delivered = sum(1 for x in dl if x != float("inf"))
        rows.append((name, requests / delivered, statistics.median(ofd), pct(ofd, 0.9), statistics.median(dl),
                     pct(dl, 0.9), statistics.median(shipped), pct(shipped, 0.9), 100 * ofd_superseded / len(journeys)))

    print(f"$ .venv/bin/python bench/simulate.py --journeys {args.journeys} --seed {args.seed}"
          + (f" --config {args.config}" if args.config else ""))
    print(f"{args.journeys} journeys, simulated clock, {time.perf_counter() - started:.1f} s\n")
    head = ("policy", "requests/delivered", "out-for-delivery late p50 / p90", "delivered late p50 / p90",
            "shipped late p50 / p90", "out-for-delivery news overtaken")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for name, req, o50, o90, d50, d90, s50, s90, sup in rows:
        print(f"| {name} | {req:.1f} | {o50:.0f} / {o90:.0f} min | {d50:.0f} / {d90:.0f} min | {s50:.0f} / {s90:.0f} min"
              f" | {sup:.1f}% |")
    ours, every30, every2h = rows
    print()
    print(f"requests: {every30[1] / ours[1]:.1f}x fewer than every 30 min (target >= 5x); "
          f"{'fewer' if ours[1] <= every2h[1] else 'MORE'} than every 2 h ({ours[1]:.1f} vs {every2h[1]:.1f})")
    print(f"median out-for-delivery lateness {ours[2]:.0f} min (target <= 30); "
          f"vs every 2 h: out-for-delivery p50/p90 {ours[2]:.0f}/{ours[3]:.0f} vs {every2h[2]:.0f}/{every2h[3]:.0f}, "
          f"delivered p50/p90 {ours[4]:.0f}/{ours[5]:.0f} vs {every2h[4]:.0f}/{every2h[5]:.0f} min")


if __name__ == "__main__":
    main()
