"""The daemon's aiohttp application: every route module registers its routes here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy import text

from tracker.web import api, customer, intake, metrics, preferences, pushes, support
from tracker.web.forms import forms_middleware
from tracker.web.serving import BODY_TIMEOUT, body_deadline
from tracker.web.common import DAEMON
from tracker.web.messaging_hooks import add_messaging_routes
from tracker.web.rating import add_rating_routes

if TYPE_CHECKING:
    from tracker.app import Daemon



async def healthz(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    try:
        async with daemon.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # the probe answers, whatever the database does
        return web.json_response({"status": "error", "database": type(exc).__name__}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "version": daemon.version})


def build_app(daemon: "Daemon") -> web.Application:
    app = web.Application(client_max_size=1024 * 1024, middlewares=[body_deadline, forms_middleware])
    app[DAEMON] = daemon
    app[BODY_TIMEOUT] = daemon.settings.server.body_timeout_seconds
    app.router.add_get("/healthz", healthz)
    add_rating_routes(app)
    add_messaging_routes(app)
    api.setup(app)
    customer.setup(app)
    preferences.setup(app)
    support.setup(app)
    intake.setup(app)
    pushes.setup(app)
    metrics.setup(app)
    return app
