"""Nothing the shop gave is lost: re-registering an order changes only the fields it gives (CLI, API,
CSV), clearing is explicit, and the answer says what changed."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from tests.test_cli import config  # noqa: F401 - the fixture: a config.yaml in the working directory
from tests.web_helpers import Client, api_key, web_daemon
from tracker.cli import main
from tracker.db import make_engine, sessionmaker
from tracker.models import Order


def order_row(path, number: str) -> dict | None:
    async def go():
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        try:
            async with sessionmaker(engine)() as s:
                from sqlalchemy import select
                o = (await s.execute(select(Order).where(Order.number == number))).scalar_one_or_none()
                return None if o is None else {f: getattr(o, f) for f in
                                               ("email", "phone", "locale", "timezone", "channels")}
        finally:
            await engine.dispose()
    return asyncio.run(go())


FULL = ["add", "--order", "O-1", "--carrier", "sandbox", "--tracking", "SBX-DELIVER-1", "--email", "a@example.com",
        "--phone", "+5511987654321", "--locale", "pt-BR", "--timezone", "America/Sao_Paulo"]
SAME = ["add", "--order", "O-1", "--carrier", "sandbox", "--tracking", "SBX-DELIVER-1"]


@pytest.mark.usefixtures("config")
def test_cli_add_again_keeps_what_is_not_resent_and_says_what_changed(tmp_path, capsys):
    assert main(FULL) == 0
    assert "registered order O-1" in capsys.readouterr().out
    assert main([*SAME, "--email", "b@example.com"]) == 0
    out = capsys.readouterr().out
    assert "changed email b•••@example.com" in out and "b@example.com" not in out
    assert order_row(tmp_path / "tracker.db", "O-1") == {
        "email": "b@example.com", "phone": "+5511987654321", "locale": "pt-BR", "timezone": "America/Sao_Paulo",
        "channels": "sms,email"}

    assert main(SAME) == 0
    assert "contact data unchanged" in capsys.readouterr().out

    assert main([*SAME, "--clear", "phone,timezone"]) == 0
    assert "changed phone (none), timezone (none)" in capsys.readouterr().out
    row = order_row(tmp_path / "tracker.db", "O-1")
    assert (row["phone"], row["timezone"], row["locale"]) == (None, None, "pt-BR")

    # clearing the last contact is refused, and nothing changes
    assert main([*SAME, "--clear", "email"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tracker: email:") and "without email and phone" in err and len(err.splitlines()) == 1
    assert order_row(tmp_path / "tracker.db", "O-1")["email"] == "b@example.com"
    # given and cleared at once, or an unknown field to clear: one line naming it
    assert main([*SAME, "--email", "c@example.com", "--clear", "email"]) == 2
    assert capsys.readouterr().err.startswith("tracker: email: is both given and cleared")
    assert main([*SAME, "--clear", "order_number"]) == 2
    assert capsys.readouterr().err.startswith("tracker: clear: 'order_number' cannot be cleared")


ONE = {"order_number": "O-1", "carrier": "sandbox", "tracking_number": "SBX-DELIVER-1", "email": "a@example.com",
       "phone": "+5511987654321", "locale": "pt-BR", "timezone": "America/Sao_Paulo"}


async def test_api_post_again_keeps_fields_left_out_and_null_clears(start_daemon, tmp_path):
    c = Client(daemon := await web_daemon(start_daemon, tmp_path), await api_key(daemon))
    try:
        await api_rules(c)
    finally:
        await c.close()


async def api_rules(c: Client) -> None:
    status, body, _ = await c.request("POST", "/api/v1/shipments", json=ONE)
    assert status == 201 and body["changed"] == []
    key = {k: ONE[k] for k in ("order_number", "carrier", "tracking_number")}
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={**key, "email": "b@example.com"})
    assert status == 200 and body["created"] is False and body["changed"] == ["email"]
    _, order, _ = await c.request("GET", "/api/v1/orders/O-1")
    assert order["order"] | {"created_at": None} == {
        "number": "O-1", "email": "b@example.com", "phone": "+5511987654321", "locale": "pt-BR",
        "timezone": "America/Sao_Paulo", "channels": ["sms", "email"], "created_at": None, "contact_problem": None}

    status, body, _ = await c.request("POST", "/api/v1/shipments", json={**key, "phone": None, "locale": None})
    assert status == 200 and body["changed"] == ["phone", "locale"]
    _, order, _ = await c.request("GET", "/api/v1/orders/O-1")
    assert (order["order"]["phone"], order["order"]["locale"], order["order"]["timezone"]) == (
        None, "en", "America/Sao_Paulo")

    # bulk: the same rules per item, and each result says what changed
    status, body, _ = await c.request("POST", "/api/v1/shipments", json={"shipments": [
        {**key, "timezone": None}, {**key, "email": None}]})
    assert status == 200 and (body["updated"], body["rejected"]) == (1, 1)
    assert body["results"][0]["changed"] == ["timezone"]
    assert body["results"][1]["error"]["field"] == "email"
    _, order, _ = await c.request("GET", "/api/v1/orders/O-1")
    assert order["order"]["email"] == "b@example.com" and order["order"]["timezone"] is None


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.usefixtures("config")
def test_csv_empty_cell_keeps_and_clear_token_clears(tmp_path, capsys):
    header = "order_number,carrier,tracking_number,email,phone,locale,timezone\n"
    first = write(tmp_path / "a.csv", header + "O-1,sandbox,SBX-DELIVER-1,a@example.com,+5511987654321,pt-BR,"
                                               "America/Sao_Paulo\n")
    assert main(["import", first]) == 0
    capsys.readouterr()
    again = write(tmp_path / "b.csv", header + "O-1,sandbox,SBX-DELIVER-1,b@example.com,,,(clear)\n")
    assert main(["import", again]) == 0
    assert "1 already known (1 with contact data changed)" in capsys.readouterr().out
    assert order_row(tmp_path / "tracker.db", "O-1") == {
        "email": "b@example.com", "phone": "+5511987654321", "locale": "pt-BR", "timezone": None,
        "channels": "sms,email"}


@pytest.mark.usefixtures("config")
def test_import_of_a_folder_or_unreadable_file_is_one_line(tmp_path, capsys):
    assert main(["import", "/etc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "tracker: /etc: is a folder, not a file. Fix: give the path of a CSV file."
    assert main(["import", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_hash_password_without_a_terminal_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tracker.cli", "support", "hash-password"], check=False, cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("tracker: password: there is no terminal") and "--stdin" in proc.stderr


@pytest.mark.postgres
async def test_csv_import_on_postgres_in_batches_keeps_and_clears(pg_url, tmp_path):
    from sqlalchemy import func, select

    from tests.helpers import make_settings
    from tracker.db import upgrade
    from tracker.importer import PG_BATCH, CsvFile, import_rows

    settings = make_settings(tmp_path, database_url=pg_url)
    n = PG_BATCH * 2 + 7  # three batches
    first = tmp_path / "first.csv"
    first.write_text("order_number,carrier,tracking_number,email,phone,locale\n" + "".join(
        f"P-{i},sandbox,SBX-DELIVER-P{i},c{i}@example.com,+1415555{i % 10000:04d},el\n" for i in range(n)))
    again = tmp_path / "again.csv"  # only a new email for every third order, the phone cleared for P-1
    again.write_text("order_number,carrier,tracking_number,email,phone\n" + "".join(
        f"P-{i},sandbox,SBX-DELIVER-P{i},{'new' if i % 3 == 0 else ''}{'c' if i % 3 else ''}{i}@example.com,"
        f"{'(clear)' if i == 1 else ''}\n" for i in range(n)))
    engine = make_engine(settings.async_database_url)
    try:
        await upgrade(engine)
        report = await import_rows(engine, settings, CsvFile(first).rows())
        assert (report.rows, report.created, report.rejected) == (n, n, [])
        report = await import_rows(engine, settings, CsvFile(again).rows())
        assert (report.created, report.updated, report.changed, report.rejected) == (0, n, len(range(0, n, 3)) + 1, [])
        async with sessionmaker(engine)() as s:
            rows = {o.number: o for o in (await s.execute(select(Order).where(Order.number.in_(["P-0", "P-1", "P-2"])))).scalars()}
            assert (rows["P-0"].email, rows["P-0"].phone, rows["P-0"].locale) == ("new0@example.com", "+14155550000", "el")
            assert (rows["P-1"].email, rows["P-1"].phone) == ("c1@example.com", None)
            assert (rows["P-2"].email, rows["P-2"].phone) == ("c2@example.com", "+14155550002")
            assert (await s.execute(select(func.count()).select_from(Order))).scalar_one() == n
    finally:
        await engine.dispose()
