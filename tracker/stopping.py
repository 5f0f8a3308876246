"""SIGINT and SIGTERM caught from the first instant of a daemon's life.

`tracker run` imports a lot and connects to its database before it serves; a stop asked meanwhile must
be a clean stop, not a kill by the default handler (exit -15). `install()` runs before anything heavy is
imported and only remembers the signal; `bind()` hands it to the event loop's stop event. Commands that
are not daemons call `release()`, which restores the default (and honours a signal already received).
Imports nothing of the package.
"""

from __future__ import annotations

import asyncio
import os
import signal

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []


def _remember(signum, frame) -> None:
    _received.append(signum)


def install() -> None:
    for sig in SIGNALS:
        signal.signal(sig, _remember)


def bind(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """From now on a signal sets `stop`; one received before this sets it at once."""
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    if _received:
        stop.set()


def release() -> None:
    """Back to the default handlers, for commands that are not daemons."""
    if signal.getsignal(signal.SIGTERM) is not _remember:
        return  # not installed (tracker.cli.main called from Python, or from a thread)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _received:
        os.kill(os.getpid(), _received[0])
