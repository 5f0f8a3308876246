"""What the fake provider servers share: an aiohttp server on 127.0.0.1, a queue of injected faults."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Fault:
    """One injected reply: an HTTP error (status, body, headers) or a hang longer than the client waits."""

    status: int = 500
    body: object = None  # dict -> JSON, str -> text
    headers: dict[str, str] = field(default_factory=dict)
    hang: float | None = None  # seconds to sleep before answering (the client should time out first)
    reset_in: float | None = None  # adds X-RateLimit-Reset = (time of the reply) + reset_in
    accept: bool = False  # the request takes effect, but the reply says it failed (the ambiguous case)


class FakeServer:
    def __init__(self, *, latency: float = 0.0, now: Callable[[], float] = time.time) -> None:
        self.latency = latency
        self.now = now  # epoch seconds; tests pass their fake clock
        self.faults: deque[Fault] = deque()
        self.hits = 0  # every request, faulted or not
        # called with each message the moment it is accepted, before the reply leaves: a crash test
        # kills the sender here, the worst moment (the provider has it, the sender does not know)
        self.on_accept: Callable[[dict], None] | None = None
        # consulted for each request while no fault is queued: a chaos run's random faults
        self.random_fault: Callable[[], Fault | None] | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    def routes(self, app: web.Application) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def inject(self, fault: Fault, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(fault)

    async def _fault(self) -> web.Response | None:
        self.hits += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if not self.faults:
            return None
        fault = self.faults.popleft()
        if fault.hang:
            await asyncio.sleep(fault.hang)
        if fault.reset_in is not None:
            fault.headers = {**fault.headers, "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
                             "X-RateLimit-Reset": str(int(self.now() + fault.reset_in))}
        if isinstance(fault.body, (dict, list)):
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        return web.Response(status=fault.status, text=fault.body or "", headers=fault.headers)

    def draw(self) -> None:
        """Queue this request's random fault, if the chaos run picks one."""
        if not self.faults and self.random_fault is not None:
            fault = self.random_fault()
            if fault is not None:
                self.faults.append(fault)

    async def took_then_failed(self, request: web.Request, accept) -> web.Response | None:
        """Play a queued `accept` fault: `accept(request)` takes the message, the reply says it failed."""
        if not (self.faults and self.faults[0].accept):
            return None
        fault = self.faults.popleft()
        self.hits += 1
        await accept(request)
        if fault.hang:
            await asyncio.sleep(fault.hang)
        return web.Response(status=fault.status, text=str(fault.body or ""), headers=fault.headers)

    def accepted(self, message: dict) -> None:
        if self.on_accept is not None:
            self.on_accept(message)

    async def start(self):
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()
