"""Daemon processes for tests and benches: a complete config, output kept in files, every process reaped.

    async with Daemons(tmp_path) as daemons:
        first = await daemons.start("run")
        ...
        first.kill()

On leaving the block every process still running is killed and waited for (so no test leaks a process
or a pipe), and when the block raised, each process's stdout and stderr are printed so the failure
shows what the daemon said.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import deep_merge
from tracker.config import DEFAULT_CONFIG

QUICK_INTERVALS = ("pending", "info_received", "in_transit", "out_for_delivery", "available_for_pickup",
                   "failed_attempt", "exception")


def daemon_config(directory: Path, **sections: Any) -> Path:
    """Write `directory/config.yaml`: every key of the packaged default, then what a process test needs
    (a database in `directory`, console channels, no quiet hours, no time-of-day polling, no jitter),
    then `sections`. Quiet hours stay off unless a test turns them on, so no test depends on the hour."""
    base = yaml.safe_load(DEFAULT_CONFIG.read_text())
    test = {
        "database": {"url": f"sqlite:///{directory / 'tracker.db'}"},
        "server": {"enabled": False, "port": 0},
        "poller": {"jitter": 0, "adaptive": False},
        "channels": {"sms": {"provider": "console"}, "email": {"provider": "console"}},
        "quiet_hours": {"enabled": False},
        "logging": {"level": "INFO"},
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(deep_merge(deep_merge(base, test), sections)))
    return path


def quick_polling(seconds: float, lease: float, tick: float = 0.2) -> dict[str, Any]:
    """poller/dispatcher sections that look often: every status checked every `seconds`."""
    return {
        "poller": {"tick_seconds": tick, "lease_seconds": lease, "jitter": 0, "adaptive": False,
                   "intervals": {k: seconds for k in QUICK_INTERVALS}},
        "dispatcher": {"tick_seconds": tick, "lease_seconds": lease},
    }


class Proc:
    """One `python -m tracker.cli --config CONFIG ARGS...` process, its output in files."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, out: Path, err: Path) -> None:
        self.name, self.proc, self.out_path, self.err_path = name, proc, out, err

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float = 30) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""


def _soft_open_files(n: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (n, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


class Daemons:
    """Starts tracker processes on one config; reaps them all on exit, printing their output on failure."""

    def __init__(self, directory: Path, config: Path | None = None) -> None:
        self.directory = directory
        self.config = config or directory / "config.yaml"
        self.procs: list[Proc] = []

    async def start(self, *args: str, name: str | None = None, env: dict[str, str] | None = None,
                    open_files: int | None = None) -> Proc:
        """`open_files`: the soft open-file limit the process starts with (as a systemd unit's default 1024)."""
        name = name or f"{args[0] if args else 'tracker'}{len(self.procs)}"
        out, err = self.directory / f"{name}.out", self.directory / f"{name}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tracker", "--config", str(self.config), *args,
                stdout=stdout, stderr=stderr, stdin=asyncio.subprocess.DEVNULL, cwd=self.directory,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                preexec_fn=None if open_files is None else lambda: _soft_open_files(open_files))
        p = Proc(name, proc, out, err)
        self.procs.append(p)
        return p

    async def run(self, *args: str, timeout: float = 60) -> Proc:
        """Run a one-shot command to its end; fails with its output when it exits non-zero."""
        p = await self.start(*args)
        code = await p.wait(timeout)
        assert code == 0, f"tracker {' '.join(args)} exited {code}: {p.stderr()}"
        return p

    def stdout(self) -> str:
        return "".join(p.stdout() for p in self.procs)

    async def __aenter__(self) -> "Daemons":
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            try:
                await asyncio.wait_for(p.proc.wait(), 30)
            except asyncio.TimeoutError:  # pragma: no cover - a process that ignores SIGKILL
                pass
        if exc_type is not None:
            for p in self.procs:
                sys.stderr.write(f"\n===== {p.name} (pid {p.pid}, exit {p.returncode}) stdout =====\n{p.stdout()}"
                                 f"\n===== {p.name} stderr =====\n{p.stderr()}\n")
