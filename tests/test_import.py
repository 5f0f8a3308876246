"""`tracker import orders.csv` on a 10,000-row file with some bad rows."""

from __future__ import annotations

import asyncio
import csv
import io
import sys

import pytest
from sqlalchemy import func, select

from tests.helpers import make_settings
from tracker.cli import main
from tracker.db import make_engine, sessionmaker, upgrade
from tracker.models import Order, Shipment

BAD = {  # row index (0-based data row) -> (column, value, field named in the report)
    17: ("email", "not-an-email", "email"),
    404: ("phone", "12", "phone"),
    999: ("carrier", "pigeon", "carrier"),
    5000: ("tracking_number", "", "tracking_number"),
    7777: ("order_number", "", "order_number"),
    9998: ("locale", "english please", "locale"),
}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def write_csv(path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["order_number", "carrier", "tracking_number", "email", "phone", "locale", "channels"])
        for i in range(n):
            row = {"order_number": f"ORD-{i}", "carrier": "sandbox", "tracking_number": f"SBX-DELIVER-{i}",
                   "email": f"customer{i}@example.com", "phone": f"+1415555{i % 10000:04d}",
                   "locale": ["en", "pt-BR", "es", "el"][i % 4], "channels": "sms,email" if i % 2 else "email"}
            if i in BAD:
                col, value, _ = BAD[i]
                row[col] = value
            w.writerow(row.values())


async def counts(settings) -> tuple[int, int]:
    engine = make_engine(settings.async_database_url)
    try:
        await upgrade(engine)
        async with sessionmaker(engine)() as s:
            orders = (await s.execute(select(func.count()).select_from(Order))).scalar_one()
            ships = (await s.execute(select(func.count()).select_from(Shipment))).scalar_one()
    finally:
        await engine.dispose()
    return orders, ships


@pytest.mark.timeout(300)  # 20,000 registrations through validate() and register() on a shared machine
def test_import_10000_rows_reports_bad_rows_and_lands_good_ones_idempotently(tmp_path, capsys, monkeypatch):
    settings = make_settings(tmp_path)
    path = tmp_path / "orders.csv"
    write_csv(path, 10_000)
    config = str(tmp_path / "config.yaml")

    terminal = Terminal()
    with monkeypatch.context() as m:
        m.setattr(sys, "stderr", terminal)
        assert main(["--config", config, "import", str(path)]) == 1  # some rows were rejected
    out, _ = capsys.readouterr()
    assert "10000/10000 rows" in terminal.getvalue()  # the progress bar, on a terminal
    reported = [line for line in out.splitlines() if line.startswith("row ")]
    assert len(reported) == len(BAD)
    for i, (_, _, fieldname) in BAD.items():
        assert any(line.startswith(f"row {i + 2}: {fieldname}: ") for line in reported), (i, reported)
    assert "9994 shipments registered" in out and "6 rejected" in out
    assert asyncio.run(counts(settings)) == (9994, 9994)

    # importing again: idempotent, nothing new; no progress bar where no terminal watches
    assert main(["--config", config, "import", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "0 shipments registered, 9994 already known (0 with contact data changed)" in out and err == ""
    assert asyncio.run(counts(settings)) == (9994, 9994)


def test_bad_header_is_refused_before_anything_is_written(tmp_path, capsys):
    settings = make_settings(tmp_path)
    path = tmp_path / "orders.csv"
    path.write_text("order,tracking_number\nA,SBX-1\n")
    assert main(["--config", str(tmp_path / "config.yaml"), "import", str(path)]) == 2
    assert "unknown column 'order'" in capsys.readouterr().err
    assert asyncio.run(counts(settings)) == (0, 0)


def test_a_row_that_is_not_utf8_is_rejected_alone(tmp_path, capsys):
    settings = make_settings(tmp_path)
    path = tmp_path / "orders.csv"
    path.write_bytes(b"order_number,carrier,tracking_number,email\n"
                     b"A-1,sandbox,SBX-DELIVER-1,a@example.com\n"
                     b"A-2,sandbox,SBX-DELIVER-2,jos\xe9@example.com\n"  # Latin-1, not UTF-8
                     b"A-3,sandbox,SBX-DELIVER-3,c@example.com\n")
    assert main(["--config", str(tmp_path / "config.yaml"), "import", str(path)]) == 1
    out = capsys.readouterr().out
    assert "row 3: (row): is not UTF-8 text. Fix: save the file as UTF-8 CSV" in out
    assert "3 rows: 2 shipments registered" in out
    assert asyncio.run(counts(settings)) == (2, 2)
