"""The daemon's aiohttp application: every route module registers its routes here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from tracker.web import api, customer, intake, metrics, order_page, preferences, pushes, support
from tracker.web.forms import forms_middleware
from tracker.web.serving import BODY_TIMEOUT, body_deadline
from tracker.web.common import DAEMON
from tracker.web.messaging_hooks import add_messaging_routes
from tracker.web.rating import add_rating_routes

if TYPE_CHECKING:
    from tracker.app import Daemon



async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 while this process serves and its scheduler runs, whatever the database does (an
    orchestrator restarting every daemon during a database blip helps nobody; /readyz tells that)."""
    daemon = request.app[DAEMON]
    scheduler = getattr(daemon, "scheduler", None)
    if scheduler is not None and not scheduler.running and not daemon._closing:
        return web.json_response({"status": "error", "reason": "the scheduler stopped", "version": daemon.version},
                                 status=503)
    health = daemon.db_health
    database = "ok" if health.up else f"unavailable for {health.down_for():.0f} s ({health.reason})"
    return web.json_response({"status": "stopping" if daemon._closing else "ok", "version": daemon.version,
                              "database": database})


def build_app(daemon: "Daemon") -> web.Application:
    app = web.Application(client_max_size=1024 * 1024, middlewares=[body_deadline, forms_middleware])
    app[DAEMON] = daemon
    app[BODY_TIMEOUT] = daemon.settings.server.body_timeout_seconds
    app.router.add_get("/healthz", healthz)
    add_rating_routes(app)
    add_messaging_routes(app)
    api.setup(app)
    customer.setup(app)
    order_page.setup(app)
    preferences.setup(app)
    support.setup(app)
    intake.setup(app)
    pushes.setup(app)
    metrics.setup(app)
    return app
