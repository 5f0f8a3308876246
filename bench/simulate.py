"""Benchmark 5: polling policies on a simulated clock over realistic journeys (pure Python, no database).

    .venv/bin/python bench/simulate.py --journeys 10000 --seed 7

Each journey is drawn once, then replayed against each policy: a carrier request is a poll; a message is
late by the time between the carrier's event and the first poll that sees it. Policies:
  adaptive   tracker.schedule.next_check with the default PollerSettings (or --config FILE's poller:)
  fixed 30m  every 30 minutes, day and night
  fixed 2h   every 2 hours, day and night
  pushed     a source that pushes (17TRACK, AfterShip, EasyPost, UPS Track Alert): each scan pushed 0.5-3 min
             after it happens, 2% of pushes lost; polled only by tracker.schedule.next_check_pushed (the
             safety check after sources.push_quiet_hours of silence; if it finds news the pushes missed,
             the adaptive policy until a push comes again, else another quiet spell). Requests: the registration, every poll, and the stop at delivery, each counted
             as a whole request (batching 40 a request would divide them).
Every policy stops at delivered. The journeys do not know about the policy. "Shipped late, waking hours"
counts only pickups between 07:00 and 22:00 in the recipient's time zone.

Journeys (recipient time zones across the US, shop in New York; 20% of orders carry no time zone, so the
shop's is used for them):
  label created on a business-hours moment (the carrier knows it at once: info_received); with --unseen
  the order is registered then but the carrier does not know the number yet (pending): half learn it
  some time before the pickup (info_received), half only at the pickup scan;
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

from tracker.config import PollerSettings, PushQuietHours, load_settings  # noqa: E402
from tracker.schedule import next_check, next_check_pushed  # noqa: E402
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
    zone: str = SHOP_TZ            # where the recipient really is


def _local(day: date, hours: float, zone: ZoneInfo) -> datetime:
    return (datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(hours=hours)).astimezone(UTC)


def make_journey(rng: random.Random, start: date, unseen: bool = False) -> Journey:
    shop = ZoneInfo(SHOP_TZ)
    name = rng.choices([z for z, _ in ZONES], [w for _, w in ZONES])[0]
    zone = ZoneInfo(name)
    day = start + timedelta(days=rng.randrange(28))
    while day.weekday() >= 5:
        day += timedelta(days=1)
    reg_hour = rng.uniform(9, 18)
    registered = _local(day, reg_hour, shop)
    events: list[tuple[datetime, Status]] = [] if unseen else [(registered, Status.INFO_RECEIVED)]

    wait_days = rng.choices([0, 1, 2, 3], [0.55, 0.30, 0.10, 0.05])[0]
    if wait_days == 0 and reg_hour > 15:
        wait_days = 1
    pickup_day = day + timedelta(days=wait_days)
    pickup = max(_local(pickup_day, rng.uniform(15, 19), shop), registered + timedelta(hours=1))
    events.append((pickup, Status.IN_TRANSIT))
    if unseen and rng.random() < 0.5:
        # the carrier learns the number when the label's data reaches it, some time before the pickup; the
        # other half first hear of it at the pickup scan: until then it is unknown to them (pending)
        events.append((registered + (pickup - registered) * rng.uniform(0.1, 0.9), Status.INFO_RECEIVED))

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
                   name if rng.random() < 0.8 else None, first, name)


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


def run_pushed(journey: Journey, settings: PollerSettings, quiet: PushQuietHours, rng: random.Random,
               loss: float = 0.02, horizon: timedelta = timedelta(days=60)) -> tuple[int, dict[Status, datetime]]:
    """Replay one journey heard by push first. Returns (requests, when each status was first known)."""
    shop_tz = settings.timezone or SHOP_TZ
    pushes = sorted((t + timedelta(minutes=rng.uniform(0.5, 3)), t) for t in journey.times if rng.random() >= loss)
    known: dict[Status, datetime] = {}
    latest = -1

    def learn(upto: datetime, at: datetime) -> Status:
        nonlocal latest
        i = bisect.bisect_right(journey.times, upto) - 1
        for k in range(latest + 1, i + 1):
            known.setdefault(journey.statuses[k], at)
        latest = max(latest, i)
        return journey.statuses[latest] if latest >= 0 else Status.PENDING

    def after(status: Status, t: datetime, heard: datetime) -> datetime | None:
        eta = journey.eta if t >= journey.eta_from else None
        polled = next_check(status, t, settings, rng, expected_delivery=eta, tz=journey.tz or shop_tz,
                            since=journey.registered)
        return next_check_pushed(status, t, heard, quiet, polled)

    requests, heard, status = 1, journey.registered, Status.PENDING  # registered at once
    poll = after(status, journey.registered, heard)
    end = journey.registered + horizon
    i = 0
    while Status.DELIVERED not in known:
        push = pushes[i] if i < len(pushes) else None
        if push is not None and (poll is None or push[0] <= poll):
            status, heard, i = learn(push[1], push[0]), push[0], i + 1
            poll = after(status, push[0], heard)
        elif poll is not None and poll < end:
            requests += 1
            before = latest
            status = learn(poll, poll)
            if latest == before and heard is not None:
                heard = poll  # nothing the pushes missed: the carrier is quiet, not the source
            poll = after(status, poll, heard)
        else:
            break
    return requests + 1, known  # + the stop once delivered


def waking(journey: Journey, when: datetime) -> bool:
    return 7 <= when.astimezone(ZoneInfo(journey.zone)).hour < 22


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
    parser.add_argument("--unseen", action="store_true",
                        help="journeys registered before the carrier knows the number (pending until the label's "
                             "data reaches it, or until the pickup scan for half of them)")
    args = parser.parse_args()
    settings = load_settings(args.config).poller if args.config else PollerSettings()
    started = time.perf_counter()
    rng = random.Random(args.seed)
    journeys = [make_journey(rng, date(2026, 2, 23), args.unseen) for _ in range(args.journeys)]
    policies = [("adaptive (default)", adaptive(settings, random.Random(args.seed + 1))),
                ("fixed every 30 min", fixed(1800)), ("fixed every 2 h", fixed(7200))]
    rows = []
    for name, policy in policies:
        requests, ofd, dl, shipped, awake, ofd_superseded = 0, [], [], [], [], 0
        for j in journeys:
            n, polls = run(j, policy)
            requests += n
            ofd_at = seen_after(polls, j.first[Status.OUT_FOR_DELIVERY])
            dl_at = seen_after(polls, j.first[Status.DELIVERED])
            ofd.append(ofd_at)
            dl.append(dl_at)
            shipped.append(seen_after(polls, j.first[Status.IN_TRANSIT]))
            if waking(j, j.first[Status.IN_TRANSIT]):
                awake.append(shipped[-1])
            if polls[bisect.bisect_left(polls, j.first[Status.OUT_FOR_DELIVERY])] >= j.first[Status.DELIVERED]:
                ofd_superseded += 1  # delivered already when the out-for-delivery news was seen: never sent
        delivered = sum(1 for x in dl if x != float("inf"))
        rows.append((name, requests / delivered, statistics.median(ofd), pct(ofd, 0.9), statistics.median(dl),
                     pct(dl, 0.9), statistics.median(shipped), pct(shipped, 0.9), statistics.median(awake),
                     100 * ofd_superseded / len(journeys)))
    push_rng, quiet = random.Random(args.seed + 2), PushQuietHours()
    requests, late = 0, {s: [] for s in (Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERED)}
    awake, most = [], 0
    for j in journeys:
        n, known = run_pushed(j, settings, quiet, push_rng)
        requests += n
        most = max(most, n)
        for s_, values in late.items():
            values.append((known[s_] - j.first[s_]).total_seconds() / 60)
        if waking(j, j.first[Status.IN_TRANSIT]):
            awake.append(late[Status.IN_TRANSIT][-1])
    t, o, d = (late[s_] for s_ in (Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERED))
    rows.append(("pushed (2% of pushes lost)", requests / len(journeys), statistics.median(o), pct(o, 0.9),
                 statistics.median(d), pct(d, 0.9), statistics.median(t), pct(t, 0.9), statistics.median(awake), 0.0))

    print(f"$ .venv/bin/python bench/simulate.py --journeys {args.journeys} --seed {args.seed}"
          + (f" --config {args.config}" if args.config else "") + (" --unseen" if args.unseen else ""))
    print(f"{args.journeys} journeys, simulated clock, {time.perf_counter() - started:.1f} s\n")
    head = ("policy", "requests/delivered", "out-for-delivery late p50 / p90", "delivered late p50 / p90",
            "shipped late p50 / p90", "shipped late, waking hours p50", "out-for-delivery news overtaken")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for name, req, o50, o90, d50, d90, s50, s90, w50, sup in rows:
        print(f"| {name} | {req:.1f} | {o50:.0f} / {o90:.0f} min | {d50:.0f} / {d90:.0f} min | {s50:.0f} / {s90:.0f} min"
              f" | {w50:.0f} min | {sup:.1f}% |")
    ours, every30, every2h, pushed = rows
    print()
    print(f"requests: {every30[1] / ours[1]:.1f}x fewer than every 30 min (target >= 5x); "
          f"{'fewer' if ours[1] <= every2h[1] else 'MORE'} than every 2 h ({ours[1]:.1f} vs {every2h[1]:.1f})")
    print(f"pushed: {pushed[1] - 1:.2f} requests per shipment for registration and safety checks (target <= 2), "
          f"{pushed[1]:.2f} with the stop at delivery (most {most}), each counted whole (batched 40 a request: "
          f"{(pushed[1] - 2) + 2 / 40:.2f}); shipped p50 {pushed[6]:.1f} min, out for delivery p50 {pushed[2]:.1f} min")
    print(f"polled: shipped lateness in waking hours p50 {ours[8]:.0f} min (target <= 60); "
          f"out for delivery p50 {ours[2]:.0f} min (target <= 10)")
    print(f"median out-for-delivery lateness {ours[2]:.0f} min (target <= 30); "
          f"vs every 2 h: out-for-delivery p50/p90 {ours[2]:.0f}/{ours[3]:.0f} vs {every2h[2]:.0f}/{every2h[3]:.0f}, "
          f"delivered p50/p90 {ours[4]:.0f}/{ours[5]:.0f} vs {every2h[4]:.0f}/{every2h[5]:.0f} min")


if __name__ == "__main__":
    main()
