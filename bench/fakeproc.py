"""The fake carrier server (tests/fakes/carriers.py) in its own process, for benchmarks.

On a 2-core machine the fake must not share the daemon's event loop, or the bench would measure the fake.
Every tracking number is known: an unregistered number plays one shared journey that started 20 hours
ago (label, picked up, arrived at hub: three events and the "shipped"/in-transit news), so a database of
a million numbers needs no million journeys in the fake.

    python bench/fakeproc.py --latency 0.02      # prints the root URL, serves until stdin closes
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.carriers import CARRIERS, FakeCarriers, deliver_journey  # noqa: E402
from tracker.clock import SYSTEM  # noqa: E402


class EveryNumber(dict):
    """Journeys by number; any number not registered plays `default`."""

    def __init__(self, default) -> None:
        super().__init__()
        self.default = default

    def get(self, key, fallback=None):
        return super().get(key, self.default)


def make_fake(latency: float) -> FakeCarriers:
    fake = FakeCarriers(SYSTEM)
    shared = deliver_journey(start=SYSTEM.now() - timedelta(hours=20))
    for name in CARRIERS:
        fake.journeys[name] = EveryNumber(shared)
        fake.carriers[name].latency = latency
        fake.carriers[name].requested = _Discard()
    return fake


class _Discard(list):
    """The fake remembers every number asked; a million-number bench must not."""

    def append(self, item) -> None:
        pass


async def serve(latency: float) -> None:
    fake = make_fake(latency)
    await fake.start()
    print(fake.root, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    await fake.close()


@contextmanager
def fake_carrier_process(latency: float):
    """Start the fake in a child process; yields (root_url, settings_for(carrier, **extra))."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--latency", str(latency)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        root = proc.stdout.readline().strip()
        if not root.startswith("http"):
            raise RuntimeError("the fake carrier process did not start")
        template = FakeCarriers()

        def settings_for(carrier: str, **extra):
            return {"base_url": f"{root}/{carrier}", "timeout_seconds": 10,
                    **template.carriers[carrier].credentials, **extra}

        yield root, settings_for
    finally:
        proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.02)
    asyncio.run(serve(ap.parse_args().latency))
