"""The `tracker` command. Exit codes: 0 done, 1 failed (`run`: also a database that does not answer at
start, so a service manager tries again), 2 bad input or config (one line says why)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from tracker import components, files, logs, plaintext, redact, stopping, version
from tracker.app import DaemonError
from tracker.clock import SYSTEM
from tracker.components import public_url_warnings
from tracker.config import (
    DEFAULT_CONFIG,
    ConfigError,
    Intervals,
    Settings,
    shown_database,
)
from tracker.db import (
    DatabaseLocked,
    DatabaseUnreachable,
    describe,
    make_engine,
    schema_status,
    sessionmaker,
    upgrade,
)
from tracker.orders import CONTACT, InputError, register, register_batch, validate
from tracker.routing import accepted_carriers, router
from tracker.schema import MigrationFailed, SchemaError

log = logging.getLogger("tracker.cli")


class Failure(Exception):
    """A one-line message for the operator, exit code 2."""


def _config_path(args) -> Path:
    return Path(args.config or os.environ.get("TRACKER_CONFIG") or "config.yaml")


def _settings(args) -> Settings:
    return components.load(_config_path(args))


async def _engine(settings: Settings, *, creates: bool = False):
    """The database of a command, refused in one line unless its schema is the one this release knows.
    Migrations of an existing database are applied by `tracker run` (database.auto_upgrade) and `tracker db
    upgrade` only, never by another command (an older daemon may still run on it). A command that writes
    (`creates`) may lay the schema of a new, empty database out when database.auto_upgrade is on."""
    engine = make_engine(settings.async_database_url)
    try:
        status = await schema_status(engine)
        if status.state == "newer":
            raise status.newer_error()
        if status.state == "empty" and creates and settings.database.auto_upgrade:
            await upgrade(engine)
        elif status.state == "empty":
            raise Failure("database.url: there is no tracker database there yet. Fix: run `tracker init` "
                          "(or `tracker db upgrade`) to create it.")
        elif status.state != "current":
            raise status.behind_error()
    except BaseException:
        await engine.dispose()
        raise
    return engine


def _run(coro) -> int:
    return asyncio.run(coro) or 0


# --- commands -----------------------------------------------------------------------------------

def cmd_init(args) -> int:
    path = _config_path(args)
    if path.exists() and not args.force:
        print(f"{path} already exists; leaving it as it is (use --force to overwrite).")
    else:
        shutil.copyfile(DEFAULT_CONFIG, path)
        path.chmod(0o600)  # it will hold secrets, or the names of the variables that do
        print(f"wrote {path} (readable by you only)")
    settings = components.load(path)

    async def go():
        engine = make_engine(settings.async_database_url)
        try:
            for line in await upgrade(engine):
                print(line)
        finally:
            await engine.dispose()

    _run(go())
    files.make_owner_only(files.sqlite_files(settings.async_database_url))
    print(f"database ready: {shown_database(settings)}. Next: `tracker demo`, or `tracker add ...` then `tracker run`.")
    return 0


def cmd_config_check(args) -> int:
    settings = _settings(args)
    whatsapp = f", whatsapp via {settings.channels.whatsapp.provider}" if settings.channels.whatsapp else ""
    for warning in public_url_warnings(settings):
        print(f"tracker: {warning}", file=sys.stderr)
    print(f"{settings.source}: OK (database {shown_database(settings)}; carriers {', '.join(settings.carriers)}; "
          f"sms via {settings.channels.sms.provider}, email via {settings.channels.email.provider}{whatsapp})")
    for gap in components.whatsapp_template_gaps(settings):
        print(f"warning: {gap}")
    for colour in components.colour_warnings(settings):
        print(f"warning: {colour}")
    return 0


def cmd_db_upgrade(args) -> int:
    settings = _settings(args)

    async def go():
        engine = make_engine(settings.async_database_url)
        try:
            for line in await upgrade(engine):
                print(line, flush=True)
            status = await schema_status(engine)
        finally:
            await engine.dispose()
        print(f"database schema is up to date ({status.current}, tracker {version.describe()})")

    _run(go())
    return 0


def cmd_db_current(args) -> int:
    settings = _settings(args)

    async def go():
        engine = make_engine(settings.async_database_url)
        try:
            status = await schema_status(engine)
        finally:
            await engine.dispose()
        print(f"database: {describe(engine)}")
        print(f"schema: {status.current}{f' (upgraded by tracker {status.upgraded_by})' if status.upgraded_by else ''}")
        print(f"this tracker: {version.describe()}, schema {status.head}")
        if status.state == "newer":
            print(f"state: newer than this tracker. {status.newer_error()}")
        elif status.pending:
            print(f"state: {len(status.pending)} migration(s) pending: {', '.join(status.pending)}. "
                  "Fix: back it up, then `tracker db upgrade`.")
        else:
            print("state: up to date")
        for rev, by, when in status.history[:5]:
            print(f"  {when:%Y-%m-%d %H:%M} UTC  {rev:<12} applied by tracker {by}")
        return 0

    return _run(go())


def cmd_db_check(args) -> int:
    settings = _settings(args)
    from tracker import schema

    async def go():
        engine = make_engine(settings.async_database_url)
        try:
            async with engine.connect() as conn:
                problems = await conn.run_sync(schema.check)
        finally:
            await engine.dispose()
        for line in problems:
            print(f"tracker: {line}", file=sys.stderr)
        if problems:
            return 1
        print(f"database OK: schema {schema.head_revision()} as tracker {version.VERSION} expects it"
              f"{', foreign keys and pages checked' if settings.async_database_url.startswith('sqlite') else ''}")
        return 0

    return _run(go())


def cmd_db_backup(args) -> int:
    settings = _settings(args)
    from tracker import backup

    try:
        target, size = backup.sqlite(settings.async_database_url, args.to, SYSTEM.now())
    except backup.BackupError as exc:
        raise Failure(str(exc)) from None
    print(f"wrote {target} ({size / 1e6:.1f} MB): a consistent copy, safe to take while the daemon runs")
    return 0


def _clear_fields(given: list[str] | None) -> list[str]:
    return [f.strip() for item in given or [] for f in item.split(",") if f.strip()]


def _shown(field: str, value: str | None) -> str:
    if not value:
        return "(none)"
    return {"email": redact.email, "phone": redact.phone}.get(field, str)(value)


def registration_answer(outcome, public_url: str) -> str:
    """What `tracker add` did: registered, or which contact fields changed on a known order."""
    order, ship = outcome.order, outcome.shipment
    if ship is None:  # registered before shipping
        verb = "registered" if outcome.new_order else "updated"
        changed = f"; changed {', '.join(outcome.changed)}" if outcome.changed else ""
        return f"{verb} order {order.number}: waiting to ship, no parcel yet (channels {order.channels}){changed}"
    page = f"customer page {public_url.rstrip('/')}/t/{ship.public_token}"
    if outcome.new_order:
        return f"registered order {order.number}: {ship.carrier} {ship.tracking_number} (channels {order.channels}; {page})"
    head = (f"registered {ship.carrier} {ship.tracking_number} on order {order.number}" if outcome.created
            else f"order {order.number} already has {ship.carrier} {ship.tracking_number}")
    if not outcome.changed:
        return f"{head}; contact data unchanged ({page})"
    changes = ", ".join(f"{f} {_shown(f, getattr(order, f))}" for f in outcome.changed)
    return f"{head}; changed {changes}; other contact fields kept ({page})"


def cmd_add(args) -> int:
    settings = _settings(args)
    reg = validate(order_number=args.order, carrier=args.carrier, tracking_number=args.tracking, email=args.email,
                   phone=args.phone, locale=args.locale, timezone=args.timezone, channels=args.channels,
                   clear=_clear_fields(args.clear), known_carriers=accepted_carriers(settings),
                   route=router(settings), default_locale=settings.shop.default_locale,
                   default_channels=settings.shop.default_channels, default_region=settings.shop.default_region,
                   country=args.country, tracking_url=args.tracking_url)

    async def go():
        engine = await _engine(settings, creates=True)
        try:
            async with sessionmaker(engine)() as session, session.begin():
                (outcome,) = await register_batch(session, [(0, reg)], SYSTEM.now(),
                                                  first_check_seconds=settings.poller.first_check_seconds)
                if outcome.error:
                    raise outcome.error
            print(registration_answer(outcome, settings.server.public_url))
        finally:
            await engine.dispose()

    return _run(go())


def cmd_run(args) -> int:
    settings = _settings(args)
    logs.setup(settings.logging.level, settings.logging.format)
    from tracker.app import Daemon

    async def go():
        stop = asyncio.Event()
        stopping.bind(asyncio.get_running_loop(), stop)
        daemon = Daemon(settings)
        if not await _start_unless_stopped(daemon, stop, web_server=False if args.once else None):
            return 0
        if args.once:
            try:
                totals = await daemon.run_once()
            finally:
                await daemon.close()
            print(f"checked {totals['checked']} shipments, handled {totals['sent']} notifications")
            return 0
        await daemon.serve(stop)
        return getattr(daemon, "exit_code", 0)  # main calls daemon.exit_code, which app.Daemon does not have yet

    return _run(go())


async def _start_unless_stopped(daemon, stop: asyncio.Event, **kwargs) -> bool:
    """Start the daemon; a stop signal during start-up (a slow database, say) ends it cleanly instead."""
    starting = asyncio.ensure_future(daemon.start(**kwargs))
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if starting.done():
        starting.result()  # start-up errors surface as they are
        if not stop.is_set():
            return True
    else:
        starting.cancel()
        try:
            await starting
        except (asyncio.CancelledError, Exception):
            pass
    await daemon.close()
    log.info("stopped during start-up")
    print("tracker: stopped during start-up", file=sys.stderr)
    return False


DEMO_JOURNEYS = [
    ("DELIVER", "ana.silva@example.com", "+14155550101", "normal delivery"),
    ("FAILED", "ben.okafor@example.com", "+14155550102", "failed attempt, then delivered"),
    ("PICKUP", "chloe.martin@example.com", "+14155550103", "failed attempt, pickup point, collected"),
    ("EXCEPTION", "dev.patel@example.com", "+14155550104", "held at customs"),
]


def _demo_settings(args) -> tuple[Settings, str, str]:
    """The demo's settings, where it writes, and the `tracker` prefix that reads it afterwards."""
    if args.use_config:
        settings = _settings(args)
        return settings, f"your configured database ({shown_database(settings)}) and providers", "tracker"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    folder = Path(args.dir) if args.dir else Path(state) / "tracker-demo"
    config, marker = folder / "config.yaml", folder / ".tracker-demo"
    try:
        if folder.is_dir() and not marker.exists() and any(folder.iterdir()):
            raise Failure(f"demo: {folder} holds other files and is not a demo folder, so it is left alone. "
                          "Fix: give a new or empty folder with --dir DIR.")
        folder.mkdir(parents=True, exist_ok=True)
        marker.touch()
        for old in folder.glob("tracker.db*"):  # a scratch database: each demo starts empty
            old.unlink()
        shutil.copyfile(DEFAULT_CONFIG, config)  # the shipped defaults: SQLite here, console channels
    except OSError as exc:
        if args.dir:
            raise Failure(f"demo: cannot write {folder} ({exc.strerror or exc}). "
                          "Fix: give a writable folder with --dir DIR.") from None
        import tempfile  # no writable home (a container, a locked-down account): a temporary folder

        args.dir = tempfile.mkdtemp(prefix="tracker-demo-")
        return _demo_settings(args)
    return (components.load(config), f"a scratch database in {folder} (messages printed here, nothing sent)",
            f"tracker --config {config}")


def cmd_demo(args) -> int:
    settings, where, again = _demo_settings(args)
    logs.setup(settings.logging.level if args.verbose else "WARNING", settings.logging.format)
    from tracker.app import Daemon
    from tracker.models import Notification, Order, Shipment

    s = settings.model_copy(deep=True)
    s.carriers = {"sandbox": {**(settings.carriers.get("sandbox") or {}), "time_scale": args.speed}}
    s.poller.intervals = Intervals(**{k: args.poll_every for k in Intervals.model_fields})
    s.poller.tick_seconds = s.dispatcher.tick_seconds = 0.5
    s.poller.jitter = 0
    s.watch.tick_seconds = s.support_alerts.tick_seconds = 1  # problems reach support within the demo
    s.quiet_hours.enabled = False  # simulated hours fly by: holding SMS for a real night would hide them
    if args.port is not None:
        s.server.port = args.port
    s.source, s.base_dir = settings.source, settings.base_dir

    async def go():
        daemon = Daemon(s)
        try:
            await daemon.start()
        except DaemonError:
            if args.port is not None:
                raise
            s.server.port = 0  # the configured port is busy: any free port will do for a demo
            daemon = Daemon(s)
            await daemon.start()
        if s.server.port == 0:
            s.server.public_url = f"http://127.0.0.1:{daemon.port}"
        maker = sessionmaker(daemon.engine)
        start = int(time.time())
        numbers = []
        async with maker() as session, session.begin():
            taken = {n for (n,) in await session.execute(select(Order.number).where(Order.number.like("ORDER-%")))}
            next_no = 1001
            for journey, email, phone, what in DEMO_JOURNEYS:
                while f"ORDER-{next_no}" in taken:
                    next_no += 1
                reg = validate(order_number=f"ORDER-{next_no}", carrier="sandbox",
                               tracking_number=f"SBX-{journey}-{start}", email=email, phone=phone,
                               known_carriers=["sandbox"], default_channels=["sms", "email"])
                await register(session, reg, daemon.clock.now())
                taken.add(reg.order_number)
                numbers.append((reg.order_number, reg.tracking_number, what))
        print(f"tracker {version.describe()} demo: {len(numbers)} sandbox orders, one simulated hour per second, in {where}.")
        for order, tracking, what in numbers:
            print(f"  {order}  {tracking:<28} {what}")
        print(f"Web server: http://127.0.0.1:{daemon.port}/healthz. Messages the customers receive follow.\n",
              flush=True)
        stop = asyncio.Event()
        stopping.bind(asyncio.get_running_loop(), stop)
        tracking_numbers = [t for _, t, _ in numbers]

        async def watch():
            deadline = time.monotonic() + args.timeout
            while not stop.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                async with maker() as session:
                    states = [st for (st,) in await session.execute(
                        select(Shipment.status).where(Shipment.tracking_number.in_(tracking_numbers)))]
                    waiting = (await session.execute(
                        select(func.count()).select_from(Notification).join(Shipment)
                        .where(Shipment.tracking_number.in_(tracking_numbers),
                               Notification.state.in_(["queued", "sending"])))).scalar_one()
                if all(st in ("delivered", "exception") for st in states) and not waiting:
                    break
            stop.set()

        watcher = asyncio.create_task(watch())
        await daemon.serve(stop)
        await watcher
        print("Demo finished. Each order's story:")
        for order, tracking, _ in numbers:
            print(f"  {again} status {order}")
        return 0

    return _run(go())


def cmd_status(args) -> int:
    settings = _settings(args)
    from tracker.story import order_story

    if args.carriers:
        from tracker.story import carriers_story

        async def carriers():
            engine = await _engine(settings)
            try:
                print(await carriers_story(engine, settings, SYSTEM.now()))
            finally:
                await engine.dispose()
            return 0

        return _run(carriers())
    if not args.order:
        raise Failure("order: give an order number, or --carriers. Fix: tracker status ORDER-1001")

    async def go():
        from tracker.db import sessionmaker
        from tracker.search import search

        engine = await _engine(settings)
        try:
            text = await order_story(engine, args.order, settings)
            found: list = []
            if text is None:  # not an order number: an email, a phone or a tracking number
                async with sessionmaker(engine)() as session:
                    found = await search(session, args.order, settings.shop.default_region)
                numbers = list(dict.fromkeys(o.number for o, _ in found))
                if len(numbers) == 1:
                    text = await order_story(engine, numbers[0], settings)
        finally:
            await engine.dispose()
        if text is None and not found:
            raise Failure(f"order: no order {args.order!r} and nothing found by email, phone or tracking number. "
                          "Fix: give an order number, the customer's email or phone, or a tracking number (exact).")
        if text is None:
            print(f"{len(numbers)} orders match {args.order!r}; tracker status ORDER shows one:")
            for o, s in found:
                parcel = f"{s.carrier_name or s.carrier} {s.tracking_number} {s.status}" if s else "waiting to ship"
                print(plaintext.for_terminal(f"  {o.number:<20} {parcel}"))
            return 0
        print(plaintext.for_terminal(text))
        return 0

    return _run(go())


def cmd_alerts(args) -> int:
    settings = _settings(args)
    from zoneinfo import ZoneInfo

    from tracker.alerts import ack_alert, delivery_state, list_alerts

    tz = ZoneInfo(settings.shop.timezone)

    async def go():
        engine = await _engine(settings)
        try:
            if getattr(args, "alerts_command", None) == "ack":
                by = args.by or os.environ.get("USER") or "cli"
                alert = await ack_alert(engine, args.id, by=by, now=SYSTEM.now())
                if alert is None:
                    raise Failure(f"id: no alert #{args.id}. Fix: run `tracker alerts` to see the open ones.")
                print(plaintext.for_terminal(f"alert #{alert.id} acknowledged by {alert.acked_by} at "
                      f"{alert.acked_at.astimezone(tz):%Y-%m-%d %H:%M}: [{alert.cause}] {alert.message}"))
                return 0
            rows = await list_alerts(engine, include_acked=args.all)
        finally:
            await engine.dispose()
        if not rows:
            print("no open alerts" if not args.all else "no alerts")
            return 0
        print(f"{'open' if not args.all else 'all'} alerts ({len(rows)}), times in {settings.shop.timezone}:")
        for alert, order in rows:
            about = f"order {order}" if order else (f"carrier {alert.carrier}" if alert.carrier else "-")
            message = alert.message.removeprefix(f"{about}, ")  # the column already says which order
            state = delivery_state(alert, settings)
            ack = f"  acknowledged by {alert.acked_by}" if alert.acked_at else ""
            print(plaintext.for_terminal(f"  #{alert.id:<5} {alert.created_at.astimezone(tz):%Y-%m-%d %H:%M}  "
                                         f"{alert.cause:<16} {about}: {message}{f'  ({state})' if state else ''}{ack}"))
        if not args.all:
            print("Acknowledge one with: tracker alerts ack ID")
        return 0

    return _run(go())


def cmd_report(args) -> int:
    settings = _settings(args)
    from zoneinfo import ZoneInfo

    from tracker import freshness, report
    from tracker.conversations.figures import load as conversation_figures

    try:
        window = report.parse_since(args.since)
    except ValueError as exc:
        raise Failure(f"since: {exc}.") from None
    tz = ZoneInfo(settings.shop.timezone)

    async def go():
        engine = await _engine(settings)
        try:
            now = SYSTEM.now()
            facts = await report.load(engine, now - window)
            fresh = await freshness.load(engine, now - window, now)
            talk = await conversation_figures(engine, now - window)
        finally:
            await engine.dispose()
        figs = report.figures(facts, tz)
        title = (f"{settings.shop.name}: carriers, shipments registered since "
                 f"{(now - window).astimezone(tz):%Y-%m-%d %H:%M} ({args.since})")
        print(report.table(figs, title))
        print()
        print(freshness.table(fresh, f"How fresh the news was: messages sent since "
                                     f"{(now - window).astimezone(tz):%Y-%m-%d %H:%M} (carrier event -> heard by "
                                     f"tracker -> taken by the provider)"))
        print(talk.text())
        if args.html:
            Path(args.html).write_text(report.html(figs, title), encoding="utf-8")
            print(f"wrote {args.html}")
        return 0

    return _run(go())


def cmd_check(args) -> int:
    settings = _settings(args)
    import aiohttp

    from tracker.carriers import CARRIERS
    from tracker.carriers.base import CarrierError
    from tracker.carriers.catalog import AUTO, canonical, display_name
    from tracker.routing import source_for

    number = args.tracking.strip().upper()
    carrier_name = canonical(args.carrier or "")
    if not carrier_name:
        if len(settings.carriers) == 1 and not settings.sources.default:
            carrier_name = next(iter(settings.carriers))
        else:
            from tracker.carriers.detect import Undetected, choose

            try:
                carrier_name = canonical(choose(number, accepted_carriers(settings)))
            except Undetected as exc:
                if exc.candidates or not settings.sources.default:
                    raise Failure(f"carrier: {exc.problem}. Fix: {exc.fix} with --carrier.") from None
                carrier_name = AUTO
    source = source_for(settings, carrier_name)
    if source is None or source not in settings.carriers:
        raise Failure(f"carrier: no tracking source serves {carrier_name!r}. Fix: use one of "
                      f"{', '.join(accepted_carriers(settings))}, or route it under sources: in config.yaml.")
    cls = CARRIERS[source]

    async def go():
        async with aiohttp.ClientSession() as http:
            carrier = cls(cls.Settings.model_validate(settings.carriers[source] or {}), http, SYSTEM)
            try:
                result = await carrier.check(number, None if carrier_name == AUTO else carrier_name)
            finally:
                await carrier.aclose()
        label = carrier_name if source == carrier_name else f"{display_name(carrier_name)} via {source}"
        print(format_result(label, number, result))
        return 0 if not isinstance(result, CarrierError) or type(result).__name__ == "NotFoundYet" else 1

    return _run(go())


def format_result(carrier: str, number: str, result) -> str:
    from tracker.carriers.base import CarrierError, NotFoundYet

    if isinstance(result, NotFoundYet):
        return f"{carrier} {number}: pending (the carrier does not know this number yet; it is polled again later)"
    if isinstance(result, CarrierError):
        return f"{carrier} {number}: error {type(result).__name__}: {result}"
    if result is None:
        return f"{carrier} {number}: the carrier answered nothing for this number"
    latest = result.latest
    lines = [f"{carrier} {number}: {latest.status.value if latest else 'pending'}"]
    if result.expected_delivery:
        lines.append(f"  expected delivery: {result.expected_delivery.isoformat()}")
    if result.signed_by:
        lines.append(f"  signed by: {result.signed_by}")
    if result.pickup_location:
        lines.append(f"  pickup at: {result.pickup_location}")
    lines.append("  events (UTC):")
    for e in sorted(result.events, key=lambda e: e.occurred_at):
        offset = "" if e.utc_offset_minutes is None else f" (local {e.utc_offset_minutes / 60:+g}h)"
        lines.append(f"    {e.occurred_at:%Y-%m-%d %H:%M}{offset}  {e.status.value:<20} {e.raw_code:<6} "
                     f"{e.raw_text}{' — ' + e.location if e.location else ''}")
    return "\n".join(lines)


def cmd_apikey(args) -> int:
    settings = _settings(args)
    from tracker import apikeys

    async def go():
        engine = await _engine(settings, creates=True)
        try:
            if args.apikey_command == "create":
                try:
                    key = await apikeys.create_key(engine, args.name, SYSTEM.now())
                except apikeys.KeyError_ as exc:
                    raise Failure(str(exc)) from None
                print(key)
                print(f"API key {args.name!r} created. It is shown only this once: store it now "
                      f"(send it as `Authorization: Bearer <key>`).", file=sys.stderr)
            elif args.apikey_command == "revoke":
                if not await apikeys.revoke_key(engine, args.name, SYSTEM.now()):
                    raise Failure(f"name: no live API key named {args.name!r}. Fix: see `tracker apikey list`.")
                print(f"API key {args.name!r} revoked")
            else:
                keys = await apikeys.list_keys(engine)
                if not keys:
                    print("no API keys (make one with `tracker apikey create NAME`)")
                for k in keys:
                    state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "live"
                    used = f"last used {k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never used"
                    print(f"{k.name:<32} {k.prefix}…  created {k.created_at:%Y-%m-%d %H:%M}  {used}  {state}")
        finally:
            await engine.dispose()
        return 0

    return _run(go())


def cmd_support_hash_password(args) -> int:
    import getpass

    from tracker.apikeys import hash_password

    if not args.stdin and not sys.stdin.isatty():
        raise Failure("password: there is no terminal to ask on. Fix: pipe it in with --stdin, "
                      "for example: echo \"$PW\" | tracker support hash-password --stdin.")
    try:
        password = sys.stdin.readline().rstrip("\r\n") if args.stdin else getpass.getpass("password: ")
        if not args.stdin and getpass.getpass("again: ") != password:
            raise Failure("password: the two entries differ. Fix: type the same password twice.")
    except EOFError:
        raise Failure("password: nothing was typed. Fix: type the password, or pipe it in with --stdin.") from None
    if len(password) < 8:
        raise Failure("password: shorter than 8 characters. Fix: choose a longer one.")
    print(hash_password(password))
    return 0


def cmd_import(args) -> int:
    settings = _settings(args)
    from tracker.importer import (
        CsvFile,
        ImportFileError,
        format_report,
        import_rows,
        progress_bar,
    )

    try:
        csv_file = CsvFile(Path(args.file))
    except ImportFileError as exc:
        raise Failure(str(exc)) from None
    show = not args.quiet and sys.stderr.isatty()  # a bar only where someone watches it

    async def go():
        try:
            engine = await _engine(settings, creates=True)
            try:
                report = await import_rows(engine, settings, csv_file.rows(), progress=progress_bar() if show else None,
                                           total=csv_file.count_rows() if show else 0)
            finally:
                await engine.dispose()
        finally:
            csv_file.close()
        print(format_report(report))
        return 1 if report.rejected else 0

    return _run(go())


def cmd_connect(args) -> int:
    """`tracker shopify connect` / `tracker woocommerce connect`."""
    settings = _settings(args)
    from tracker.importer import progress_bar
    from tracker.shops import connect
    from tracker.shops.shopify import AdminError

    platform = args.command
    show = not args.quiet and sys.stderr.isatty()
    run = connect.shopify_connect if platform == "shopify" else connect.woocommerce_connect

    async def go():
        try:
            (connect.shopify_checked if platform == "shopify" else connect.woocommerce_checked)(settings)
            engine = await _engine(settings, creates=True)
            try:
                report = await run(engine, settings, days=args.days, backfill=not args.no_backfill,
                                   progress=progress_bar(doing="backfilling", unit="orders") if show else None)
            finally:
                await engine.dispose()
        except AdminError as exc:
            raise Failure(str(exc)) from None
        print(connect.format_report(report, settings))
        return 1 if report.rejected else 0

    return _run(go())


def cmd_privacy(args) -> int:
    """`tracker privacy export|erase <email|phone>`, `tracker privacy requests`."""
    import json

    from tracker.privacy import requests

    settings = _settings(args)
    by = os.environ.get("USER") or "cli"

    async def go():
        engine = await _engine(settings)
        try:
            if args.privacy_command == "requests":
                rows = await requests.list_requests(engine, args.last)
                if not rows:
                    print("no privacy requests recorded")
                for r in rows:
                    ref = f" [{r.reference}]" if r.reference else ""
                    print(f"#{r.id:<5} {r.requested_at:%Y-%m-%d %H:%M} {r.kind:<12} {r.state:<13} via {r.via} by "
                          f"{r.requested_by}{ref}: {r.orders} orders; {r.result}")
                return 0
            who = requests.person(args.person, settings)
            now = SYSTEM.now()
            if args.privacy_command == "export":
                outcome = await requests.export_person(engine, settings, who, now, by=by)
                text = json.dumps(outcome.data, ensure_ascii=False, indent=2)
                if args.out:
                    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data
                    with os.fdopen(fd, "w", encoding="utf-8") as f:
                        f.write(text + "\n")
                    print(f"wrote {args.out}: {len(outcome.orders)} orders of {who.shown} (privacy request "
                          f"#{outcome.request_id})", file=sys.stderr)
                else:
                    print(text)
                if not outcome.orders:
                    print(f"tracker: {who.field}: no order holds {who.shown}; the export says tracker holds nothing "
                          f"of it (request #{outcome.request_id}).", file=sys.stderr)
                return 0
            if not args.yes:
                raise Failure(f"{who.field}: erasing {who.shown} cannot be undone. Fix: add --yes to erase it "
                              "(`tracker privacy export` first, if the person also asked for their data).")
            outcome = await requests.erase_people(engine, settings, [who], now, by=by)
            if not outcome.orders:
                raise Failure(f"{who.field}: no order holds {who.shown}, so nothing was erased (recorded as privacy "
                              f"request #{outcome.request_id}). Fix: check the spelling, try the person's other "
                              "address or phone, or find their order with `tracker status`.")
            shown = ", ".join(outcome.orders[:10]) + (f" and {len(outcome.orders) - 10} more"
                                                       if len(outcome.orders) > 10 else "")
            print(f"erased {who.shown} from {len(outcome.orders)} orders ({shown}): "
                  f"{requests.result_text(outcome.erased)}.")
            print(f"kept: {requests.kept_note()}. Privacy request #{outcome.request_id} recorded.")
            return 0
        finally:
            await engine.dispose()

    return _run(go())


# --- parser -------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tracker", description="Order tracking notifier.")
    p.add_argument("--config", help="config file (default: $TRACKER_CONFIG or ./config.yaml)")
    p.add_argument("--version", action="version", version=f"tracker {version.describe()}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("init", help="write config.yaml (if absent) and create the database")
    s.add_argument("--force", action="store_true", help="overwrite an existing config file")
    s.set_defaults(func=cmd_init)

    s = sub.add_parser("run", help="run the daemon (poller, dispatcher, web server)")
    s.add_argument("--once", action="store_true", help="do everything due now, then exit")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("demo", help="register sandbox orders and watch them travel, about a minute")
    s.add_argument("--speed", type=float, default=3600, help="simulated seconds per real second (default 3600)")
    s.add_argument("--poll-every", type=float, default=1.0, help="seconds between checks during the demo")
    s.add_argument("--timeout", type=float, default=150, help="stop after this many seconds at most")
    s.add_argument("--port", type=int, help="web server port (default: server.port, or any free one if taken)")
    s.add_argument("--verbose", action="store_true", help="show the daemon's log lines too")
    s.add_argument("--dir", help="the demo's scratch folder (default: $XDG_STATE_HOME or ~/.local/state, "
                                 "then tracker-demo); emptied at each start")
    s.add_argument("--use-config", action="store_true",
                   help="run in the configured database with the configured providers instead (real sends)")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("add", help="register an order's shipment")
    s.add_argument("--order", required=True, help="the shop's order number")
    s.add_argument("--carrier", help="carrier name, e.g. sandbox")
    s.add_argument("--tracking", help="tracking number (left out: the order waits to ship, its parcel comes later)")
    s.add_argument("--email")
    s.add_argument("--phone", help="international form, e.g. +14155550123, or as the customer typed it with --country")
    s.add_argument("--country", help="the customer's country (ISO 3166 two letters, e.g. PT; \"PT,ES\": shipping "
                                     "then billing): the phone is read in it, then in shop.default_region")
    s.add_argument("--tracking-url", help="the carrier's tracking page of this parcel as the shop has it")
    s.add_argument("--locale", help="customer's language: en, pt-BR, es, el")
    s.add_argument("--timezone", help="customer's IANA time zone, e.g. America/Sao_Paulo")
    s.add_argument("--channels", help="sms, email, whatsapp or several, e.g. whatsapp,email (default from config)")
    s.add_argument("--clear", action="append", metavar="FIELD",
                   help=f"empty a contact field of a known order ({', '.join(CONTACT)}; repeat or comma-separate); "
                        "fields not given keep their values")
    s.set_defaults(func=cmd_add)

    s = sub.add_parser("status", help="an order's story: carrier timeline and every notification")
    s.add_argument("order", nargs="?", help="an order number, the customer's email or phone, or a tracking number")
    s.add_argument("--carriers", action="store_true", help="carrier health and daily budget use instead")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("alerts", help="support alerts: list the open ones, or `alerts ack ID`")
    s.add_argument("--all", action="store_true", help="include acknowledged alerts")
    s.set_defaults(func=cmd_alerts)
    asub = s.add_subparsers(dest="alerts_command")
    a = asub.add_parser("ack", help="acknowledge an alert")
    a.add_argument("id", type=int)
    a.add_argument("--by", help="who acknowledges it (default: $USER)")
    a.set_defaults(func=cmd_alerts, all=False)

    s = sub.add_parser("report", help="per carrier: on-time rate, transit, exceptions, notifications, rating")
    s.add_argument("--since", default="30d", help="window of registration, e.g. 30d, 12h, 2w (default 30d)")
    s.add_argument("--html", metavar="FILE", help="also write an HTML page with charts")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("check", help="ask the carrier once and print the normalized result (writes nothing)")
    s.add_argument("tracking")
    s.add_argument("--carrier")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("import", help="register shipments from a CSV file (columns: see docs/interfaces.md)")
    s.add_argument("file", help="CSV with a header row: order_number, carrier, tracking_number, email, phone, "
                                "locale, timezone, channels")
    s.add_argument("--quiet", action="store_true", help="no progress bar (shown only on a terminal anyway)")
    s.set_defaults(func=cmd_import)

    for platform, what in (("shopify", "the GraphQL Admin API (settings under shopify:)"),
                           ("woocommerce", "the REST API (settings under woocommerce:)")):
        s = sub.add_parser(platform, help=f"connect a {platform.capitalize()} shop: webhooks and backfill")
        psub = s.add_subparsers(dest="platform_command", required=True)
        c = psub.add_parser("connect", help=f"make the webhooks tracker needs and register the orders of the last "
                                            f"days, through {what}; running it again changes nothing")
        c.add_argument("--days", type=float, default=30, help="backfill the orders of this many days (default 30)")
        c.add_argument("--no-backfill", action="store_true", help="only the webhooks")
        c.add_argument("--quiet", action="store_true", help="no progress bar (shown only on a terminal anyway)")
        c.set_defaults(func=cmd_connect)

    s = sub.add_parser("privacy", help="a person's data on request: export, erase; the requests recorded")
    vsub = s.add_subparsers(dest="privacy_command", required=True)
    v = vsub.add_parser("export", help="print (or --out FILE) every order, message and preference change of a person")
    v.add_argument("person", help="the person's email address or phone number")
    v.add_argument("--out", metavar="FILE", help="write the JSON to FILE (mode 0600) instead of printing it")
    v.set_defaults(func=cmd_privacy)
    v = vsub.add_parser("erase", help="erase a person's contact data, message traces and texts; the anonymous "
                                      "history stays")
    v.add_argument("person", help="the person's email address or phone number")
    v.add_argument("--yes", action="store_true", help="really erase (it cannot be undone)")
    v.set_defaults(func=cmd_privacy)
    v = vsub.add_parser("requests", help="the privacy requests recorded for audit, newest first")
    v.add_argument("--last", type=int, default=100, help="how many (default 100)")
    v.set_defaults(func=cmd_privacy)

    s = sub.add_parser("apikey", help="API keys for the HTTP API")
    ksub = s.add_subparsers(dest="apikey_command", required=True)
    k = ksub.add_parser("create", help="make a key and print it (once)")
    k.add_argument("name", help="who uses it, e.g. the shop's name")
    k.set_defaults(func=cmd_apikey)
    k = ksub.add_parser("revoke", help="revoke a key by name")
    k.add_argument("name")
    k.set_defaults(func=cmd_apikey)
    k = ksub.add_parser("list", help="list keys (never the keys themselves)")
    k.set_defaults(func=cmd_apikey)

    s = sub.add_parser("support", help="support console tools")
    ssub = s.add_subparsers(dest="support_command", required=True)
    h = ssub.add_parser("hash-password", help="print a password hash for support.users in config.yaml")
    h.add_argument("--stdin", action="store_true", help="read the password from standard input")
    h.set_defaults(func=cmd_support_hash_password)

    s = sub.add_parser("config", help="configuration tools")
    csub = s.add_subparsers(dest="config_command", required=True)
    c = csub.add_parser("check", help="validate the config file")
    c.set_defaults(func=cmd_config_check)

    s = sub.add_parser("db", help="database tools")
    dsub = s.add_subparsers(dest="db_command", required=True)
    d = dsub.add_parser("upgrade", help="apply pending migrations (each all-or-nothing; back up first)")
    d.set_defaults(func=cmd_db_upgrade)
    d = dsub.add_parser("current", help="the database's schema, this tracker's, and who upgraded it when")
    d.set_defaults(func=cmd_db_current)
    d = dsub.add_parser("check", help="schema current and as the models describe it; SQLite: foreign keys, pages")
    d.set_defaults(func=cmd_db_check)
    d = dsub.add_parser("backup", help="SQLite: a consistent copy of the database, even while the daemon runs")
    d.add_argument("--to", metavar="PATH", help="file or folder to write (default: beside the database, "
                                                "named with the date and time)")
    d.set_defaults(func=cmd_db_backup)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    files.owner_only_umask()  # config, database, WAL, backups: customer data and signing keys
    if args.func not in (cmd_run, cmd_demo):
        logs.setup("WARNING")  # what a one-shot command logs is masked too, and carries its date and zone
    if args.func not in (cmd_run, cmd_demo):
        stopping.release()  # only daemons turn a stop signal into a clean shutdown
    try:
        return args.func(args)
    except MigrationFailed as exc:
        print(f"tracker: {redact.credentials(str(exc))}", file=sys.stderr)
        return 1
    except (ConfigError, InputError, DatabaseLocked, DatabaseUnreachable, DaemonError, Failure, SchemaError) as exc:
        for line in str(exc).splitlines() or [""]:  # a config check reports every problem, one a line
            print(f"tracker: {redact.credentials(line)}", file=sys.stderr)
        # a daemon whose database does not answer yet (PostgreSQL still starting) failed, and may be tried
        # again (systemd restarts 1, never 2: a bad config stays stopped until someone fixes it)
        return 1 if args.func is cmd_run and isinstance(exc, DatabaseUnreachable) else 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `tracker status X | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
