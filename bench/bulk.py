"""Bulk registration from CSV: `tracker import` of a generated file, rows/s and peak RSS.

    .venv/bin/python bench/bulk.py --rows 100000                 # SQLite, 20,000 and 100,000 rows
    .venv/bin/python bench/bulk.py --rows 100000 --pg            # a fresh database on the local PostgreSQL

Each size runs `tracker import --quiet FILE` in its own process on an empty database (migrations are
applied first, outside the timing), then the same file again (every row already known: the re-import
path). Memory is the importing process's peak RSS; it should not grow with the file (compare the sizes).
Wall time includes the process start; the importer's own CPU time is printed beside it, as the 2-core
machine is shared (on PostgreSQL the server's CPU is not in it).
Every row is a new order with email, phone, locale and channels, on the sandbox carrier.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.checks import pg_database
from tests.helpers import make_settings
from tracker.db import make_engine, upgrade

LOCALES = ("en", "pt-BR", "es", "el")


def write_csv(path: Path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["order_number", "carrier", "tracking_number", "email", "phone", "locale", "channels"])
        for i in range(rows):
            w.writerow([f"BULK-{i}", "sandbox", f"SBX-DELIVER-BULK-{i}", f"customer{i}@example.com",
                        f"+1415555{i % 10000:04d}", LOCALES[i % 4], "sms,email" if i % 2 else "email"])


def run_import(config: Path, csv_path: Path) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds and peak RSS (MB) of the importing process, its last output line."""
    with tempfile.TemporaryFile("w+") as out:
        began = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "tracker.cli", "--config", str(config), "import",
                                 "--quiet", str(csv_path)], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        elapsed = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().strip()
    if proc.returncode != 0:
        sys.exit(f"import failed ({proc.returncode}): {text[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text.splitlines()[-1]


def measure(rows: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        settings = make_settings(d, database_url=url, logging={"level": "WARNING"})

        async def migrate():
            engine = make_engine(settings.async_database_url)
            await upgrade(engine)
            await engine.dispose()

        asyncio.run(migrate())
        csv_path = d / "orders.csv"
        write_csv(csv_path, rows)
        size = csv_path.stat().st_size / 1e6
        for what in ("new", "again"):
            seconds, cpu, peak, last = run_import(d / "config.yaml", csv_path)
            print(f"{rows:>7} rows ({size:.1f} MB) {what:<5}: {seconds:6.1f} s, {rows / seconds:6.0f} rows/s "
                  f"(importer CPU {cpu:5.1f} s: {rows / cpu:6.0f} rows per CPU second), peak RSS {peak:6.1f} MB"
                  f"   [{last}]", flush=True)


async def _pg(rows_list: list[int]) -> None:
    for rows in rows_list:
        async with pg_database("tracker_bulk") as url:
            await asyncio.to_thread(measure, rows, url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, help="the large file (a fifth of it is run first)")
    ap.add_argument("--pg", action="store_true", help="use a fresh database on the local PostgreSQL")
    args = ap.parse_args()
    sizes = [args.rows // 5, args.rows]
    print(f"tracker import, {'PostgreSQL' if args.pg else 'SQLite'}")
    if args.pg:
        asyncio.run(_pg(sizes))
    else:
        for rows in sizes:
            measure(rows, None)


if __name__ == "__main__":
    main()
