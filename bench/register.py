"""17TRACK registration of many numbers within its limits: 40 numbers a request, 3 requests a second.
The daemon's Subscriber (claim, batch, pace on the shared rate limiter, write back) against the fake
17TRACK (tests/fakes/seventeentrack.py), which enforces both limits (429 + Retry-After and -18010014,
counted) and measures the most requests that arrived within any one second.

    .venv/bin/python bench/register.py --numbers 100000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.seed import seed  # noqa: E402
from tests.fakes.seventeentrack import API_KEY, FakeSeventeenTrack  # noqa: E402
from tests.helpers import make_settings  # noqa: E402
from tracker.app import Daemon  # noqa: E402
from tracker.db import make_engine, sessionmaker, upgrade  # noqa: E402


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--numbers", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeSeventeenTrack(per_second=3) as fake:
            settings = make_settings(Path(tmp), carriers={"17track": {"api_key": API_KEY, "base_url": fake.url}},
                                     sources={"default": "17track"}, logging={"level": "WARNING"})
            engine = make_engine(settings.async_database_url)
            await upgrade(engine)
            await seed(engine, settings.async_database_url, args.numbers, carrier="jadlog", source="17track",
                       tracking="JD{i:012d}", now=datetime.now(timezone.utc), chunk=args.numbers)
            await engine.dispose()
            daemon = Daemon(settings)
            await daemon.start(web_server=False)
            try:
                start = time.monotonic()
                while True:
                    stats = await daemon.subscriber.tick()
                    if stats.calls == 0 and stats.enrolled == 0:
                        break
                elapsed = time.monotonic() - start
                async with sessionmaker(daemon.engine)() as session:
                    from sqlalchemy import func, select

                    from tracker.models import SourceSubscription as Sub
                    states = dict((await session.execute(select(Sub.state, func.count()).group_by(Sub.state))).all())
            finally:
                await daemon.close()
    sizes = [n for e, n in fake.requests if e == "register"]
    print(f"{args.numbers} numbers registered in {elapsed:.0f} s ({args.numbers / elapsed:.0f} numbers/s): "
          f"{len(sizes)} register requests, largest {max(sizes)} numbers, at most {fake.max_in_a_second} requests in "
          f"any second, {fake.over_limit} refused with 429, {fake.too_many_in_request} over 40; subscriptions "
          f"{states} (limit 3/s x 40 = 120 numbers/s; shared machine)")
    print("command: .venv/bin/python bench/register.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    asyncio.run(main())
