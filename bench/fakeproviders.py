"""The fake Twilio and SendGrid (tests/fakes) in their own process, for benchmarks that measure the CPU of
the daemon's process alone.

    python bench/fakeproviders.py --latency 0.0   # prints {"twilio": url, "sendgrid": url, ...}, serves
                                                  # until stdin closes, then prints what each received
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.sendgrid import FakeSendGrid  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402


async def serve(latency: float, stamped: bool) -> None:
    if stamped:  # when each message arrived (monotonic, system-wide on Linux): the parent computes latencies
        from bench.latency import StampedSendGrid, StampedTwilio
        twilio, sendgrid = StampedTwilio, StampedSendGrid
    else:
        twilio, sendgrid = FakeTwilio, FakeSendGrid
    async with twilio(latency=latency) as tw, sendgrid(latency=latency) as sg:
        print(json.dumps({"twilio": tw.url, "sendgrid": sg.url, "sendgrid_key": sg.public_key_b64}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes it
        print(json.dumps({"sms": len(tw.messages), "emails": len(sg.mails),
                          "sms_arrived": getattr(tw, "arrived", {}), "emails_arrived": getattr(sg, "arrived", {})}),
              flush=True)


@contextmanager
def fake_providers_process(latency: float, stamped: bool = False):
    """Yields (tw, sg, counts): objects with the fakes' `url` (and SendGrid's `public_key_b64`) for
    tests.messaging_env.messaging_settings, and a dict filled with what they received once they stop."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--latency", str(latency)]
                            + (["--stamped"] if stamped else []),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    counts: dict = {}
    try:
        urls = json.loads(proc.stdout.readline())
        yield (SimpleNamespace(url=urls["twilio"]),
               SimpleNamespace(url=urls["sendgrid"], public_key_b64=urls["sendgrid_key"]), counts)
    finally:
        proc.stdin.close()
        line = proc.stdout.readline()
        if line:
            counts.update(json.loads(line))
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--stamped", action="store_true")
    args = ap.parse_args()
    asyncio.run(serve(args.latency, args.stamped))
