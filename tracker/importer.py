"""`tracker import orders.csv`: register shipments from a CSV file.

Columns (header row required, any order, names as below; only order_number is required, the others
may be absent or empty; a row without tracking_number registers the order before it ships):

    order_number, carrier, tracking_number, email, phone, locale, timezone, channels

`channels` is `sms`, `email`, `whatsapp` or several, e.g. `sms,email` (quote it in CSV). An empty cell is not given: an order
already known keeps that value. The cell `(clear)` empties email, phone or timezone, and puts locale
or channels back to the shop's defaults. Every row goes through the same validation as the API; the
file is read as a stream and good rows are committed in batches of BATCH (PG_BATCH on PostgreSQL;
memory stays flat however long the file is); bad rows are reported with their row number (the header
is row 1), field and reason. Importing the same file again changes nothing (idempotent on carrier + tracking number).
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tracker.bulk import FIELDS, carriers_of, register_batch, validate_item
from tracker.clock import SYSTEM, Clock
from tracker.config import Settings
from tracker.db import sessionmaker
from tracker.orders import InputError

REQUIRED = ("order_number",)
CLEAR = "(clear)"
BATCH = 2000  # rows per transaction: SQLite's one writer (a running daemon's too) waits for at most one
PG_BATCH = 5000  # PostgreSQL lets the daemons write meanwhile; fewer, larger round trips
ROW = "(row)"  # the field named when a whole row is wrong


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
    changed: int = 0  # known orders whose contact data this file changed
    waiting: int = 0  # orders registered before shipping (no tracking number yet)
    rejected: list[Rejected] = field(default_factory=list)


def _open(path: Path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file. Fix: give the path of a CSV file.") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path}: is a folder, not a file. Fix: give the path of a CSV file.") from None
    except PermissionError:
        raise ImportFileError(f"{path}: permission denied. Fix: make the file readable by this user, "
                              "or copy it somewhere readable.") from None
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot be read ({exc.strerror or exc}). Fix: give the path of a CSV file.") from None


class CsvFile:
    """A CSV file opened and its header checked; `rows()` streams (row number, cells given) pairs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = _open(path)
        if not self._raw.seekable():  # a pipe or a device: nothing to count, and nothing to read twice
            self._raw.close()
            raise ImportFileError(f"{path}: not a regular file. Fix: give the path of a CSV file.")
        # Undecodable bytes become lone surrogates: the row holding them is refused, not the whole file.
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        self._reader = csv.reader(self._text)
        try:
            header = [h.strip().lower() for h in next(self._reader, [])]
        except (csv.Error, UnicodeError) as exc:
            self.close()
            raise ImportFileError(f"{path}:1: not a CSV header ({exc}). Fix: save the file as UTF-8 CSV.") from None
        if not any(header):
            self.close()
            raise ImportFileError(f"{path}: empty file. Fix: the first row names the columns ({', '.join(FIELDS)}).")
        if any(_undecodable(h) for h in header):
            self.close()
            raise ImportFileError(f"{path}:1: not UTF-8 text. Fix: save the file as UTF-8 CSV.")
        unknown = [h for h in header if h not in FIELDS]
        if unknown:
            self.close()
            raise ImportFileError(f"{path}:1: unknown column {unknown[0][:64]!r}. Fix: use only {', '.join(FIELDS)}.")
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            self.close()
            raise ImportFileError(f"{path}:1: the column {missing[0]!r} is missing. Fix: add it to the header row.")
        self.header = header

    def close(self) -> None:
        self._raw.close()

    def count_rows(self) -> int:
        """About how many data rows there are (line breaks), for a progress bar; reads the file once."""
        with open(self.path, "rb") as f:
            lines, last = 0, b"\n"
            while chunk := f.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        return max(lines - (last == b"\n"), 0)

    def rows(self) -> Iterator[tuple[int, dict[str, str | None]]]:
        try:
            while True:
                try:
                    cells = next(self._reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield self._reader.line_num, {ROW: f"is not CSV ({exc})"}
                    continue
                if not any(c.strip() for c in cells):
                    continue  # a blank line
                yield self._reader.line_num, self._cells(cells)
        finally:
            self.close()

    def _cells(self, cells: list[str]) -> dict[str, str | None]:
        if len(cells) > len(self.header):
            return {ROW: "has more cells than the header has columns"}
        if _undecodable("".join(cells)):
            return {ROW: "is not UTF-8 text. Fix: save the file as UTF-8 CSV"}
        data: dict[str, str | None] = {}
        for name, cell in zip(self.header, cells, strict=False):
            cell = cell.strip()
            if cell == CLEAR:
                data[name] = None
            elif cell:
                data[name] = cell
        return data


_SURROGATE = re.compile("[\udc80-\udcff]")  # what errors="surrogateescape" makes of bytes that are not UTF-8


def _undecodable(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def progress_bar(stream=None, *, doing: str = "importing", unit: str = "rows") -> Callable[[int, int], None]:
    stream = stream or sys.stderr  # the stderr of the moment, not the one at import time

    def show(done: int, total: int) -> None:
        width = 30
        total = max(total, done)
        filled = int(width * done / total) if total else width
        stream.write(f"\r{doing} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {unit}")
        if done >= total:
            stream.write("\n")
        stream.flush()
    return show


def _batches(rows: Iterable[tuple[int, dict]], size: int) -> Iterator[list[tuple[int, dict]]]:
    batch: list[tuple[int, dict]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def import_rows(engine: AsyncEngine, settings: Settings, rows: Iterable[tuple[int, dict]], *,
                      clock: Clock = SYSTEM, progress: Callable[[int, int], None] | None = None,
                      total: int = 0) -> ImportReport:
    """Register the rows in batches (one transaction each); the same path as the HTTP API's bulk calls."""
    report = ImportReport()
    maker = sessionmaker(engine)
    carriers = carriers_of(settings)

    def check(chunk: list[tuple[int, dict]]) -> tuple[list, list[Rejected]]:
        regs, bad = [], []
        for row_no, data in chunk:
            if ROW in data:
                bad.append(Rejected(row_no, ROW, data[ROW]))
                continue
            try:
                regs.append((row_no, validate_item(settings, data, null_clears=True, carriers=carriers)))
            except InputError as exc:
                bad.append(Rejected(row_no, exc.field, f"{exc.problem}. Fix: {exc.fix}"))
        return regs, bad

    async def write(regs: list) -> None:
        outcomes = []
        for attempt in range(3):
            if not regs:
                break
            try:
                async with maker() as session, session.begin():
                    outcomes = await register_batch(session, regs, clock.now(), load=False,
                                                    first_check_seconds=settings.poller.first_check_seconds)
                break
            except IntegrityError:  # the API or a webhook registered one of these orders meanwhile: again
                if attempt == 2:
                    raise
        by_index = dict(regs)
        for o in outcomes:
            if o.error:
                report.rejected.append(Rejected(o.index, o.error.field, f"{o.error.problem}. Fix: {o.error.fix}"))
                continue
            elif not by_index[o.index].tracking_number:
                report.waiting += o.created
                report.updated += not o.created
            else:
                report.created += o.created
                report.updated += not o.created
            report.changed += bool(o.changed)
        if progress:  # the count is a guess (quoted line breaks, blank lines): the end is shown below
            progress(report.rows, max(total, report.rows + 1))

    if progress:
        progress(0, max(total, 1))
    for chunk in _batches(rows, BATCH if engine.dialect.name == "sqlite" else PG_BATCH):
        regs, bad = check(chunk)
        report.rejected.extend(bad)
        report.rows += len(chunk)
        await write(regs)
    if progress:
        progress(report.rows, report.rows)
    report.rejected.sort(key=lambda r: r.row)
    return report


def format_report(report: ImportReport) -> str:
    lines = [f"row {r.row}: {r.field}: {r.reason}" for r in report.rejected]
    waiting = f"{report.waiting} orders waiting to ship, " if report.waiting else ""
    lines.append(f"{report.rows} rows: {report.created} shipments registered, {waiting}{report.updated} already known "
                 f"({report.changed} with contact data changed), {len(report.rejected)} rejected")
    return "\n".join(lines)
