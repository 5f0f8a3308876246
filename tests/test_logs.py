"""Logs a collector can read: every line stamped in ISO 8601 UTC (whatever the machine's zone), text by
default, one JSON object per line with `logging.format: json` (time, level, logger, message, and the
order, carrier and notification a line is about), personal data masked on every line in both."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.helpers import add, make_settings, walk
from tracker import logs

STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
EMAIL, PHONE = "ana@example.com", "+14155550101"


@pytest.fixture(autouse=True)
def root_logger_as_it_was():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def run_once(tmp_path, fmt: str) -> subprocess.CompletedProcess:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"server": {"enabled": False}, "logging": {"level": "DEBUG", "format": fmt}}))
    env = {**os.environ, "TZ": "America/Sao_Paulo"}  # the machine's zone never shows in a log line
    subprocess.run([sys.executable, "-m", "tracker.cli", "--config", str(config), "add", "--order", "ORDER-1",
                    "--carrier", "sandbox", "--tracking", "SBX-DELIVER-1", "--email", EMAIL, "--phone", PHONE],
                   check=True, capture_output=True, env=env, timeout=60)
    return subprocess.run([sys.executable, "-m", "tracker.cli", "--config", str(config), "run", "--once"],
                          capture_output=True, text=True, env=env, timeout=120)


def test_text_lines_carry_an_iso_utc_time_and_a_level(tmp_path):
    proc = run_once(tmp_path, "text")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith((" ", "Traceback"))]
    assert lines
    for line in lines:
        assert re.match(rf"{STAMP} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S+: ", line), line
    assert EMAIL not in proc.stderr and PHONE not in proc.stderr


def test_json_lines_parse_one_object_each(tmp_path):
    proc = run_once(tmp_path, "json")
    assert proc.returncode == 0, proc.stderr
    entries = [json.loads(line) for line in proc.stderr.splitlines()]  # every line, or this raises
    assert len(entries) > 5
    for e in entries:
        assert re.fullmatch(STAMP, e["time"]) and e["level"] in ("DEBUG", "INFO", "WARNING", "ERROR")
        assert e["logger"] and isinstance(e["message"], str)
    assert any(e["logger"].startswith("sqlalchemy") or e["logger"].startswith("aiosqlite") for e in entries)
    assert EMAIL not in proc.stderr and PHONE not in proc.stderr


async def test_json_lines_name_the_order_carrier_and_notification(tmp_path, start_daemon, clock, capsys):
    logs.setup("INFO", "json")
    daemon = await start_daemon(make_settings(tmp_path))
    await add(daemon, "ORDER-9", "SBX-DELIVER-9", email=EMAIL, phone=PHONE)
    capsys.readouterr()
    await walk(daemon, clock, 40)
    logging.getLogger("tracker.test").warning("a\nINFO forged line %s", "\u2028x")
    err = capsys.readouterr().err
    entries = [json.loads(line) for line in err.splitlines()]
    sends = [e for e in entries if e.get("notification")]
    assert sends, entries[:5]
    assert all(e["order"] == "ORDER-9" and e["carrier"] == "sandbox" for e in sends)
    assert entries[-1]["message"] == "a\nINFO forged line \u2028x"  # escaped in JSON, one line
    assert "\u2028" not in err
    assert EMAIL not in err and PHONE not in err


def test_a_text_message_is_one_line_whatever_it_quotes(capsys):
    logs.setup("INFO")
    logging.getLogger("tracker.test").warning("carrier said %s", "ok\r\n2026-03-02T14:00:00.000Z ERROR forged\u2028")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("tracker.test").exception("failed for %s", EMAIL)
    lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(rf"{STAMP} WARNING tracker.test: carrier said ok\\r\\n2026-03-02T14:00:00.000Z ERROR "
                        r"forged\\u2028", lines[0]), lines[0]
    assert lines[1].endswith("failed for a•••@example.com") and lines[2] == "Traceback (most recent call last):"
