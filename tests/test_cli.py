"""The CLI as an operator uses it: bad input is one line naming the field and the fix, and writes nothing."""

import pytest
import yaml

from tracker.cli import main


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": "sqlite:///tracker.db"}, "server": {"port": 0}}))
    monkeypatch.chdir(tmp_path)
    return path


def count_orders(tmp_path) -> int:
    import sqlite3
    db = tmp_path / "tracker.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("select count(*) from orders").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


GOOD = ["add", "--order", "ORDER-1", "--carrier", "sandbox", "--tracking", "SBX-DELIVER-1",
        "--email", "ana@example.com", "--phone", "+14155550101"]


@pytest.mark.parametrize("flag,value,field,fix", [
    ("--phone", "12345", "phone:", "international form"),
    ("--email", "ana@", "email:", "name@example.com"),
    ("--carrier", "pony", "carrier:", "use one of sandbox"),
    ("--tracking", "  ", "tracking_number:", "tracking number"),
    ("--locale", "english!", "locale:", "pt-BR"),
    ("--channels", "fax", "channels:", "sms, email"),
])
def test_add_refuses_bad_input_with_one_line_and_writes_nothing(config, tmp_path, capsys, flag, value, field, fix):
    args = list(GOOD)
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"tracker: {field}") and fix in err
    assert count_orders(tmp_path) == 0


def test_add_then_status_tells_the_story(config, tmp_path, capsys):
    assert main(GOOD) == 0
    assert "registered order ORDER-1" in capsys.readouterr().out
    assert main(["status", "ORDER-1"]) == 0
    out = capsys.readouterr().out
    assert "Shipment sandbox SBX-DELIVER-1: PENDING" in out and "(no events yet)" in out
    assert count_orders(tmp_path) == 1


def test_status_of_unknown_order(config, capsys):
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["status", "ORDER-404"]) == 2
    assert "no order 'ORDER-404'" in capsys.readouterr().err


def test_config_check_ok_and_bad(config, capsys):
    assert main(["config", "check"]) == 0
    assert "OK" in capsys.readouterr().out
    config.write_text("poller:\n  claim_batch: lots\n")
    assert main(["config", "check"]) == 2
    err = capsys.readouterr().err
    assert "config.yaml:2: poller.claim_batch" in err and "Fix:" in err


def test_malformed_config_stops_run(config, capsys):
    config.write_text("server:\n  port: [1\n")
    assert main(["run", "--once"]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_check_prints_the_normalized_result(config, capsys):
    assert main(["check", "SBX-FAILED-1764000000"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sandbox SBX-FAILED-1764000000: delivered")
    assert "failed_attempt" in out and "signed by: M. SMITH" in out


def test_init_writes_config_and_database(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert (tmp_path / "config.yaml").exists() and (tmp_path / "tracker.db").exists()
    assert main(["init"]) == 0
    assert "already exists" in capsys.readouterr().out


def test_run_once_does_what_is_due_and_exits(config, capsys):
    assert main(GOOD[:6] + ["SBX-DELIVER-1764000000", "--email", "ana@example.com"]) == 0
    assert main(["run", "--once"]) == 0
    out = capsys.readouterr().out
    assert "checked 1 shipments" in out
    # registered long after delivery: silent
    assert "· delivered" not in out


def test_status_carriers_shows_budget_use(tmp_path, monkeypatch, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"carriers": {"sandbox": {"daily_budget": 250}}, "server": {"port": 0}}))
    monkeypatch.chdir(tmp_path)
    assert main(GOOD) == 0
    assert main(["run", "--once"]) == 0
    capsys.readouterr()
    assert main(["status", "--carriers"]) == 0
    out = capsys.readouterr().out
    assert "sandbox" in out and "1/250 0%" in out and " ok " in out


def test_add_without_a_tracking_number_registers_the_order_before_it_ships(config, tmp_path, capsys):
    assert main(["add", "--order", "ORDER-9", "--email", "ana@example.com"]) == 0
    assert "registered order ORDER-9: waiting to ship, no parcel yet" in capsys.readouterr().out
    assert main(["status", "ORDER-9"]) == 0
    assert "WAITING TO SHIP since" in capsys.readouterr().out
    assert main(["add", "--order", "ORDER-9", "--email", "ana@example.com", "--tracking", "SBX-DELIVER-9"]) == 0
    assert main(["add", "--order", "ORDER-9", "--email", "ana@example.com", "--tracking", "SBX-DELIVER-10"]) == 0
    capsys.readouterr()
    assert main(["status", "ORDER-9"]) == 0
    out = capsys.readouterr().out
    assert "Parcel 1 of 2: Shipment sandbox SBX-DELIVER-9" in out and "Parcel 2 of 2: Shipment sandbox SBX-DELIVER-10" in out
    assert count_orders(tmp_path) == 1
