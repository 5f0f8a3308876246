"""The sandbox carrier as an HTTP server on 127.0.0.1, recording every request.

`GET /v1/track?numbers=A,B` answers `{"results": [...]}` in the sandbox wire format (see
tracker/carriers/sandbox.py). Journeys start at the Unix time in the number; `time_scale` compresses
them. `latency` delays every answer (benchmarks use 20 ms); clearing `gate` holds every answer until it
is set again (a test can freeze daemons mid-request). Setting `pinned_hours` holds every journey at that
many simulated hours after its start, whatever the clock says: a process test moves a journey on step
by step (shipped, then out for delivery, then delivered) and no slow machine can skip a step. `requests` keeps (numbers, started, ended)
in monotonic seconds, so a test can prove that no number was ever asked about twice at the same time;
`per_second()` counts requests by wall-clock second, as a carrier enforcing a rate does.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

from aiohttp import web

from tracker.carriers.sandbox import journey_of, simulate


class SandboxServer:
    def __init__(self, *, time_scale: float = 1.0, latency: float = 0.0) -> None:
        self.time_scale = time_scale
        self.latency = latency
        self.requests: list[tuple[tuple[str, ...], float, float]] = []
        self.arrivals: list[float] = []  # wall-clock time of each request, as a carrier counts its rate
        self.first_seen: dict[str, datetime] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.gate = asyncio.Event()
        self.gate.set()
        self.pinned_hours: float | None = None

    async def _track(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        self.arrivals.append(time.time())
        numbers = tuple(n for n in request.query.get("numbers", "").split(",") if n)
        if self.latency:
            await asyncio.sleep(self.latency)
        await self.gate.wait()
        now = datetime.now(timezone.utc)
        results = []
        for number in numbers:
            _, epoch = journey_of(number)
            start = datetime.fromtimestamp(epoch, timezone.utc) if epoch else self.first_seen.setdefault(number, now)
            at = now if self.pinned_hours is None else start + timedelta(
                seconds=self.pinned_hours * 3600 / self.time_scale)
            results.append(simulate(number, start, at, self.time_scale))
        self.requests.append((numbers, started, time.monotonic()))
        return web.json_response({"results": results})

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/v1/track", self._track)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def per_second(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for at in self.arrivals:
            counts[int(at)] = counts.get(int(at), 0) + 1
        return counts

    def overlapping(self) -> list[str]:
        """Numbers that were in two requests at once."""
        spans: dict[str, list[tuple[float, float]]] = {}
        for numbers, started, ended in self.requests:
            for n in numbers:
                spans.setdefault(n, []).append((started, ended))
        bad = []
        for n, ranges in spans.items():
            ranges.sort()
            if any(b[0] < a[1] for a, b in zip(ranges, ranges[1:])):
                bad.append(n)
        return bad


def main() -> None:
    """Run the server alone: python -m tests.fakes.sandbox_server --port 8099 --time-scale 3600."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()

    async def run() -> None:
        server = SandboxServer(time_scale=args.time_scale, latency=args.latency)
        print(await server.start(args.port), flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
