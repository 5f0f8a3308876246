"""The deploy files work as written. No systemd runs here, so the unit's ExecStart is run as systemd would
run it, against a temporary root: its paths mapped into it, its environment (Environment=,
EnvironmentFile=, the STATE_DIRECTORY and CONFIGURATION_DIRECTORY that StateDirectory= and
ConfigurationDirectory= set), its working directory, UMask= and LimitNOFILE=, with the default config
installed the way README.md says. The Dockerfile is read, not built (no Docker engine here)."""

from __future__ import annotations

import os
import re
import resource
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tracker.config import DEFAULT_CONFIG, ServerSettings

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "tracker.service"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def unit() -> dict[str, list[str]]:
    """[Service] settings of the unit: name -> every value given (in order)."""
    out: dict[str, list[str]] = {}
    section = None
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_the_unit_keeps_state_where_the_default_config_puts_it_and_stops_on_a_bad_config():
    s = unit()
    assert s["StateDirectory"] == ["tracker"] and s["ConfigurationDirectory"] == ["tracker"]
    assert s["WorkingDirectory"] == ["/var/lib/tracker"]
    assert s["RestartPreventExitStatus"] == ["2"] and s["Restart"] == ["on-failure"]
    assert "ExecStartPre" not in s  # RestartPreventExitStatus sees only the main process
    assert s["UMask"] == ["0077"]
    assert int(s["LimitNOFILE"][0]) >= ServerSettings().max_connections + 256
    assert s["User"] == ["tracker"] and s["CapabilityBoundingSet"] == [""]
    assert "sqlite:///tracker.db" in DEFAULT_CONFIG.read_text()  # relative: in $STATE_DIRECTORY under the unit


class Root:
    """A temporary root for the unit: /etc/tracker, /var/lib/tracker, and /opt/tracker/.venv (this venv)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.venv = Path(sys.executable).parent.parent
        (base / "etc" / "tracker").mkdir(parents=True)
        (base / "var" / "lib" / "tracker").mkdir(parents=True, mode=0o700)  # StateDirectoryMode=0700

    def path(self, path: str) -> str:
        if path.startswith("/opt/tracker/.venv/"):
            return str(self.venv / path[len("/opt/tracker/.venv/"):])
        return str(self.base / path.lstrip("/")) if path.startswith(("/etc/tracker", "/var/lib/tracker")) else path

    def command(self, line: str) -> list[str]:
        return [self.path(word) for word in shlex.split(line)]

    def environment(self, s: dict[str, list[str]]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("STATE_DIRECTORY", "TRACKER_CONFIG")}
        env["STATE_DIRECTORY"] = self.path("/var/lib/tracker")  # what StateDirectory=tracker sets
        env["CONFIGURATION_DIRECTORY"] = self.path("/etc/tracker")
        for assignment in s.get("Environment", []):
            key, _, value = assignment.partition("=")
            env[key] = self.path(value)
        for file in s.get("EnvironmentFile", []):
            path = Path(self.path(file.lstrip("-")))
            if path.exists():
                for line in path.read_text().splitlines():
                    if line.strip() and not line.startswith("#"):
                        key, _, value = line.partition("=")
                        env[key.strip()] = value.strip()
        return env

    def start(self, s: dict[str, list[str]]) -> subprocess.Popen:
        umask, files = int(s["UMask"][0], 8), int(s["LimitNOFILE"][0])

        def as_systemd() -> None:
            os.umask(umask)
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(files, hard), hard))

        with open(self.base / "journal.txt", "w") as log:  # the child keeps its own descriptor
            return subprocess.Popen(self.command(s["ExecStart"][0]), cwd=self.path(s["WorkingDirectory"][0]),
                                    env=self.environment(s), preexec_fn=as_systemd, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def journal(self) -> str:
        return (self.base / "journal.txt").read_text(errors="replace")


def install_config(root: Root, **changes) -> Path:
    """README's step: the packaged default config as /etc/tracker/config.yaml (root:tracker 0640), the
    server on a free port so the test does not take 8080."""
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["server"]["port"] = 0
    for section, values in changes.items():
        data.setdefault(section, {}).update(values)
    path = Path(root.path("/etc/tracker/config.yaml"))
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o640)
    Path(root.path("/etc/tracker/env")).write_text("TRACKER_UNUSED_SECRET=s3cr3t-never-printed\n")
    return path


@pytest.mark.slow
def test_execstart_runs_the_default_config_with_its_database_in_the_state_directory(tmp_path):
    root, s = Root(tmp_path), unit()
    install_config(root)
    etc_before = sorted(p.name for p in Path(root.path("/etc/tracker")).iterdir())
    proc = root.start(s)
    try:
        deadline = time.monotonic() + 60
        while "running" not in root.journal() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, root.journal()
        state = Path(root.path("/var/lib/tracker"))
        db = state / "tracker.db"
        assert db.exists(), root.journal()
        # (the log masks long token-like runs, such as pytest's folder names; the end of the path shows)
        assert re.search(r"running: database sqlite:///\S*/var/lib/tracker/tracker\.db;", root.journal())
        assert sorted(p.name for p in Path(root.path("/etc/tracker")).iterdir()) == etc_before  # nothing written there
        for path in state.glob("tracker.db*"):
            if path.suffix != ".lock":
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        proc.send_signal(signal.SIGTERM)  # KillSignal=SIGTERM
        assert proc.wait(timeout=float(s["TimeoutStopSec"][0])) == 0, root.journal()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "s3cr3t-never-printed" not in root.journal()


@pytest.mark.slow
def test_a_broken_config_exits_2_which_the_unit_does_not_restart(tmp_path):
    root, s = Root(tmp_path), unit()
    install_config(root, shop={"nmae": "typo"})
    proc = root.start(s)
    code = proc.wait(timeout=60)
    assert str(code) in s["RestartPreventExitStatus"], root.journal()
    journal = root.journal()
    assert "shop.nmae" in journal and "Fix:" in journal


@pytest.mark.slow
def test_a_database_not_answering_yet_exits_1_which_the_unit_retries(tmp_path):
    root, s = Root(tmp_path), unit()
    install_config(root, database={"url": "postgresql://tracker:${TRACKER_UNUSED_SECRET}@127.0.0.1:9/tracker"})
    proc = root.start(s)
    code = proc.wait(timeout=60)
    assert code == 1 and str(code) not in s["RestartPreventExitStatus"], root.journal()
    assert "127.0.0.1:9" in root.journal() and "s3cr3t-never-printed" not in root.journal()


def test_systemd_analyze_rates_the_unit_ok():
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    proc = subprocess.run([tool, "security", "--offline=true", str(UNIT)], capture_output=True, text=True, timeout=60)
    if "--offline" in proc.stderr or "unrecognized option" in proc.stderr:
        pytest.skip(f"this systemd-analyze cannot rate a unit file offline: {proc.stderr.strip()[:200]}")
    m = re.search(r"Overall exposure level for tracker\.service: ([\d.]+) (\w+)", proc.stdout)
    assert m, proc.stdout[-500:] + proc.stderr
    assert float(m.group(1)) <= 2.0 and m.group(2) == "OK", m.group(0)


def test_the_dockerfile_installs_from_the_constraints_file_and_checks_liveness():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"pip install [^\n]*-c constraints\.txt", text)
    assert re.search(r"^ENV .*STATE_DIRECTORY=/data", text, re.M)
    health = re.search(r"^HEALTHCHECK (?:.*\\\n)*.*$", text, re.M).group(0)
    assert "/healthz" in health
    assert re.search(r"^USER tracker", text, re.M) and "UMASK" not in text
