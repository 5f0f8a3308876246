"""`tracker import orders.csv`: register shipments from a CSV file.

Columns (header row required, any order, names as below; only order_number is required, the others
may be absent or empty; a row without tracking_number registers the order before it ships):

    order_number, carrier, tracking_number, email, phone, locale, timezone, channels

`channels` is `sms`, `email`, `whatsapp` or several, e.g. `sms,email` (quote it in CSV). Every row goes through the same
validation as the API; good rows are committed in batches of 500, bad rows are reported with their row
number (the header is row 1), field and reason. Importing the same file again changes nothing but
contact data (idempotent on carrier + tracking number).
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.bulk import FIELDS, register_batch, validate_item
from tracker.clock import SYSTEM, Clock
from tracker.config import Settings
from tracker.db import sessionmaker
from tracker.orders import InputError

REQUIRED = ("order_number",)
BATCH = 500


class ImportFileError(Exception):
    """The file as a whole cannot be imported (missing, unreadable, bad header)."""


@dataclass
class Rejected:
    row: int
    field: str
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    waiting: int = 0  # orders registered before shipping (no tracking number yet)
    rejected: list[Rejected] = field(default_factory=list)


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file. Fix: give the path of a CSV file.") from None
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: not UTF-8 text (byte {exc.start}). Fix: save the file as UTF-8 CSV.") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise ImportFileError(f"{path}: empty file. Fix: the first row names the columns ({', '.join(FIELDS)}).")
    unknown = [h for h in header if h not in FIELDS]
    if unknown:
        raise ImportFileError(f"{path}:1: unknown column {unknown[0]!r}. Fix: use only {', '.join(FIELDS)}.")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFileError(f"{path}:1: the column {missing[0]!r} is missing. Fix: add it to the header row.")
    reader.fieldnames = header
    rows = []
    for raw in reader:
        row_no = reader.line_num
        extra = raw.pop(None, None)
        data = {k: (v.strip() if isinstance(v, str) and v.strip() else None) for k, v in raw.items()}
        if extra:
            data["(row)"] = "too many cells"
        rows.append((row_no, data))
    return rows


def progress_bar(stream=None) -> Callable[[int, int], None]:
    stream = stream or sys.stderr  # the stderr of the moment, not the one at import time
    def show(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        stream.write(f"\rimporting [{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows")
        if done >= total:
            stream.write("\n")
        stream.flush()
    return show


async def import_rows(engine: AsyncEngine, settings: Settings, rows: list[tuple[int, dict]], *,
                      clock: Clock = SYSTEM, progress: Callable[[int, int], None] | None = None) -> ImportReport:
    report = ImportReport(rows=len(rows))
    maker = sessionmaker(engine)
    if progress:
        progress(0, len(rows))
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        regs = []
        for row_no, data in chunk:
            if "(row)" in data:
                report.rejected.append(Rejected(row_no, "(row)", "has more cells than the header has columns"))
                continue
            try:
                regs.append((row_no, validate_item(settings, data)))
            except InputError as exc:
                report.rejected.append(Rejected(row_no, exc.field, f"{exc.problem}. Fix: {exc.fix}"))
        outcomes = []
        for attempt in range(3):
            if not regs:
                break
            try:
                async with maker() as session, session.begin():
                    outcomes = await register_batch(session, regs, clock.now(),
                                                    first_check_seconds=settings.poller.first_check_seconds)
                break
            except IntegrityError:  # the API or a webhook registered one of these orders meanwhile: again
                if attempt == 2:
                    raise
        for o in outcomes:
            if o.error:
                report.rejected.append(Rejected(o.index, o.error.field, f"{o.error.problem}. Fix: {o.error.fix}"))
            elif o.shipment is None:
                report.waiting += o.created
                report.updated += not o.created
            elif o.created:
                report.created += 1
            else:
                report.updated += 1
        if progress:
            progress(min(start + BATCH, len(rows)), len(rows))
    report.rejected.sort(key=lambda r: r.row)
    return report


def format_report(report: ImportReport) -> str:
    lines = [f"row {r.row}: {r.field}: {r.reason}" for r in report.rejected]
    waiting = f"{report.waiting} orders waiting to ship, " if report.waiting else ""
    lines.append(f"{report.rows} rows: {report.created} shipments registered, {waiting}{report.updated} already known "
                 f"(contact data updated), {len(report.rejected)} rejected")
    return "\n".join(lines)
