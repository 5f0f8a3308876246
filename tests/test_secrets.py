"""No secret in any output, no empty secret accepted, and the files tracker writes are its owner's alone."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys

import pytest
import yaml

from tracker import redact
from tracker.cli import main
from tracker.components import load as load_config
from tracker.config import ConfigError

PASSWORD = "Pa55-w0rd-Zq"


def test_a_password_in_any_url_is_masked_in_free_text():
    line = f"cannot reach postgresql://tracker:{PASSWORD}@db.internal:5432/tracker?sslpassword=k3y&x=1"
    masked = redact.text(line)
    assert PASSWORD not in masked and "k3y" not in masked
    assert "postgresql://tracker:•••@db.internal:5432/tracker?sslpassword=•••&x=1" in masked
    assert redact.credentials("sqlite:////var/lib/tracker/tracker.db") == "sqlite:////var/lib/tracker/tracker.db"


@pytest.fixture
def pg_config(tmp_path, monkeypatch, pg_url):
    """A config whose database URL carries a password (the test server trusts every local user, so the
    password is not checked, only carried)."""
    url = pg_url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    assert PASSWORD in url
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": url}, "server": {"enabled": False, "port": 0},
                                    "logging": {"level": "DEBUG"}}))
    monkeypatch.chdir(tmp_path)
    return path


COMMANDS = [
    ["init"],
    ["config", "check"],
    ["db", "upgrade"],
    ["add", "--order", "ORDER-7", "--carrier", "sandbox", "--tracking", "SBX-DELIVER-7", "--email", "a@shop.example"],
    ["status", "ORDER-7"],
    ["status", "--carriers"],
    ["alerts"],
    ["report", "--since", "1d"],
    ["apikey", "list"],
    ["run", "--once"],
    ["status", "NO-SUCH-ORDER"],
]


@pytest.mark.postgres
def test_no_command_prints_the_database_password(pg_config, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    outputs = []
    for args in COMMANDS:
        code = main(args)
        out = capsys.readouterr()
        outputs.append((args, code, out.out + out.err))
    text = "\n".join(o for _, _, o in outputs) + "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in text
    assert [c for a, c, _ in outputs if a != ["status", "NO-SUCH-ORDER"]] == [0] * (len(COMMANDS) - 1)
    check = dict((tuple(a), o) for a, _, o in outputs)[("config", "check")]
    assert "postgresql://postgres:•••@127.0.0.1:5432/" in check


def test_an_unreachable_database_error_names_the_address_not_the_password(tmp_path, monkeypatch, capsys):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(
        {"database": {"url": f"postgresql://tracker:{PASSWORD}@127.0.0.1:9/tracker"}}))
    monkeypatch.chdir(tmp_path)
    for args in (["db", "upgrade"], ["status", "X"], ["config", "check"]):
        main(args)
        out = capsys.readouterr()
        assert PASSWORD not in out.out + out.err
    (tmp_path / "config.yaml").write_text(f"database:\n  url: mysql://tracker:{PASSWORD}@db/tracker\n")
    assert main(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert PASSWORD not in err and "database.url" in err


def test_the_daemon_first_lines_name_the_database_without_its_password(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": f"postgresql://tracker:{PASSWORD}@127.0.0.1:9/tracker"},
                                      "server": {"enabled": False}}))
    proc = subprocess.run([sys.executable, "-m", "tracker.cli", "--config", str(config), "run"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 1, proc.stderr  # not answering yet: systemd may try again
    assert PASSWORD not in proc.stdout + proc.stderr
    assert "127.0.0.1:9" in proc.stderr


TWILIO = {"account_sid": "AC" + "a" * 32, "auth_token": "t" * 32, "from_number": "+15005550006"}
SENDGRID = {"api_key": "SG.x", "from_email": "orders@shop.example"}


@pytest.mark.parametrize("section, name, entry, key", [
    ("providers", "twilio", {**TWILIO, "auth_token": ""}, "providers.twilio.auth_token"),
    ("providers", "twilio", {**TWILIO, "auth_token": "${UNSET_TWILIO_TOKEN:-}"}, "providers.twilio.auth_token"),
    ("providers", "sendgrid", {**SENDGRID, "api_key": "  "}, "providers.sendgrid.api_key"),
    ("carriers", "dhl", {"api_key": ""}, "carriers.dhl.api_key"),
    ("carriers", "ups", {"client_id": "id", "client_secret": "${UNSET_UPS_SECRET:-}"}, "carriers.ups.client_secret"),
    ("carriers", "aftership", {"api_key": "k", "webhook_secret": ""}, "carriers.aftership.webhook_secret"),
])
def test_an_empty_secret_is_refused_naming_the_key(tmp_path, monkeypatch, section, name, entry, key):
    monkeypatch.delenv("UNSET_TWILIO_TOKEN", raising=False)
    monkeypatch.delenv("UNSET_UPS_SECRET", raising=False)
    data = {"server": {"public_url": "https://track.shop.example"},
            "channels": {"sms": {"provider": "twilio"}, "email": {"provider": "sendgrid"}},
            "providers": {"twilio": TWILIO, "sendgrid": SENDGRID}, "carriers": {"sandbox": {}}}
    data[section][name] = entry
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    problems = [p for p in err.value.problems if key in p]
    assert len(problems) == 1, err.value.problems
    assert f"{key} is empty" in problems[0] and "Fix:" in problems[0] and "config.yaml:" in problems[0]


def test_a_disabled_carrier_may_keep_its_key_empty(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"carriers": {"sandbox": {}, "dhl": {"enabled": False, "api_key": ""}}}))
    load_config(path)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_config_and_database_for_the_owner_only(tmp_path):
    env = {**os.environ}
    env.pop("STATE_DIRECTORY", None)
    proc = subprocess.run([sys.executable, "-c", "import os, sys; os.umask(0o022); from tracker.cli import main; "
                           "sys.exit(main(['init']))"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    made = sorted(p.name for p in tmp_path.iterdir())
    assert "config.yaml" in made and "tracker.db" in made
    assert {p.name: oct(mode(p)) for p in tmp_path.iterdir() if p.is_file()} == \
        {name: oct(0o600) for name in made}, made
    assert "readable by you only" in proc.stdout


async def test_the_daemon_takes_others_access_away_from_an_old_database(tmp_path, start_daemon, caplog):
    from tests.helpers import make_settings

    settings = make_settings(tmp_path)
    first = await start_daemon(settings)
    await first.close()
    db = tmp_path / "tracker.db"
    for path in tmp_path.glob("tracker.db*"):
        path.chmod(0o644)
    await start_daemon(settings)
    assert oct(mode(db)) == oct(0o600)
    # the database, its WAL and shared memory (tracker.db.lock holds only the daemon's pid)
    assert {p.name: oct(mode(p)) for p in tmp_path.glob("tracker.db*") if p.suffix != ".lock"} == \
        {n: oct(0o600) for n in ("tracker.db", "tracker.db-wal", "tracker.db-shm")}
    assert any("now by its owner only" in r.getMessage() for r in caplog.records)
