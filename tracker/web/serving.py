"""The web server's defences against slow and numerous clients, for a port left open to the internet.

- A connection must send a whole request's headers within `server.header_timeout_seconds` of opening
  (or of the previous answer on a kept-alive connection), else it is closed (aiohttp's keep-alive timer,
  which also runs before the first request).
- A request's body must arrive within `server.body_timeout_seconds` of its headers, else 408 and the
  connection is closed; a handler's own work (the database) is not counted.
- At most `server.max_connections` connections are open at once; one more is answered 503 and closed
  at once, counted (`tracker_http_connections_refused_total`), and logged once when refusing starts and
  once when it ends, never a line per connection.
- The file limit is raised to what that cap needs (the soft limit up to the hard one), and the cap is
  lowered to fit under it, so accept() never runs out of descriptors; should it still, the event loop's
  "out of system resource" lines are logged once a minute, with how many were held back.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time

from aiohttp import web

log = logging.getLogger("tracker.web")

# Descriptors kept for everything else the daemon opens: database connections, carrier and provider
# connections, log files, the SQLite WAL.
RESERVE_FILES = 256
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 46\r\n"
           b"Connection: close\r\nRetry-After: 5\r\n\r\ntoo many connections: try again in a moment\r\n\r\n")


def file_limit_for(connections: int) -> tuple[int, int]:
    """Raise this process's open-file soft limit toward `connections` + RESERVE_FILES (never above the
    hard limit). Returns (the connections that fit now, the soft limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + RESERVE_FILES
    if soft != resource.RLIM_INFINITY and soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    fits = connections if soft == resource.RLIM_INFINITY else max(16, min(connections, soft - RESERVE_FILES))
    return fits, soft


class _Refused(asyncio.Protocol):
    """One connection over the cap: a short 503, then closed; its request is never read."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(REFUSAL)  # type: ignore[attr-defined]
        transport.close()


class ConnectionCap:
    """The protocol factory in front of aiohttp's: hands out a refusal past `cap` open connections."""

    def __init__(self, server: web.Server, cap: int) -> None:
        self.server, self.cap = server, cap
        self.refused = 0  # since start: /metrics
        self._refusing_since: int | None = None  # refused count when the current refusing period began

    def __call__(self) -> asyncio.Protocol:
        open_now = len(self.server.connections)
        if open_now >= self.cap:
            if self._refusing_since is None:
                self._refusing_since = self.refused
                log.warning("web server: %d connections open, the most server.max_connections allows; new ones are "
                            "refused (503) until some close (counted in tracker_http_connections_refused_total)",
                            open_now)
            self.refused += 1
            return _Refused()
        if self._refusing_since is not None:
            log.warning("web server: accepting connections again; %d refused meanwhile",
                        self.refused - self._refusing_since)
            self._refusing_since = None
        return self.server()


class CappedSite(web.TCPSite):
    """A TCPSite whose connections go through a ConnectionCap."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, cap: ConnectionCap, backlog: int = 512) -> None:
        super().__init__(runner, host, port, backlog=backlog)
        self.cap = cap

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.cap, self._host, self._port, backlog=self._backlog)
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port


BODY_TIMEOUT = web.AppKey("body_timeout", float)


class BodyTooSlow(web.HTTPRequestTimeout):
    def __init__(self, seconds: float) -> None:
        super().__init__(text=f"(body): the request body did not arrive within {seconds:g} s. Fix: send the whole "
                              f"body at once (server.body_timeout_seconds).\n", headers={"Connection": "close"})


@web.middleware
async def body_deadline(request: web.Request, handler):
    """The body must be in within the timeout of the headers: past it, a read of the body fails with 408."""
    if not request.body_exists or request.content.is_eof():
        return await handler(request)
    seconds = request.app[BODY_TIMEOUT]
    content = request.content

    def expire() -> None:
        if not content.is_eof():
            content.set_exception(BodyTooSlow(seconds))

    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        return await handler(request)
    finally:
        timer.cancel()


class OncePerMinute(logging.Filter):
    """The event loop logs "socket.accept() out of system resource" each time accept() finds no descriptor:
    let one through a minute, saying how many were held back."""

    def __init__(self) -> None:
        super().__init__()
        self.last = 0.0
        self.held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "out of system resource" not in record.getMessage():
            return True
        now = time.monotonic()
        if now - self.last < 60:
            self.held += 1
            return False
        if self.held:
            record.msg, record.args = f"{record.getMessage()} ({self.held} more in the last minute)", None
        self.last, self.held = now, 0
        return True


ACCEPT_FLOOD = OncePerMinute()


def quiet_accept_floods() -> None:
    logger = logging.getLogger("asyncio")
    if ACCEPT_FLOOD not in logger.filters:
        logger.addFilter(ACCEPT_FLOOD)
