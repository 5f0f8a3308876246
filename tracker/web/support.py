"""The support console, /support: log in, search, read an order's whole story, recheck and resend.

Server-rendered (Jinja2, autoescaped), no JavaScript needed. Log in with a user from `support.users`
(password hashes made by `tracker support hash-password`) or with an API key in the password field.
The session is a signed cookie (HMAC-SHA256, `support.session_secret`), ended on the server at logout;
login attempts are throttled per user name and source address in the database (tracker/support_access.py); every form carries a CSRF token
bound to the session (the login form a double-submit token), and cookies are SameSite=Strict.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from tracker import apikeys, support_access
from tracker.carrier_health import carrier_health
from tracker.conversations import CaseError, close_case
from tracker.conversations.cases import open_cases
from tracker.conversations.support import answer as conversation_answer
from tracker.conversations.support import case_thread
from tracker.source_health import source_health
from tracker.web import common
from tracker.web.common import DAEMON
from tracker.web.customer import render_page

log = logging.getLogger("tracker.support")

COOKIE = "tracker_support"
LOGIN_COOKIE = "tracker_support_login"
SECRET = web.AppKey("support_secret", bytes)
USER = web.RequestKey("support_user", dict) if hasattr(web, "RequestKey") else "support_user"  # aiohttp < 3.12
_DUMMY_HASH = apikeys.hash_password(secrets.token_urlsafe(12))

DONE = {  # fixed messages after an action (never reflected input)
    "recheck": "Recheck queued: the carrier is asked at once.",
    "stop": "Tracking stopped: no more checks and no more messages for this shipment.",
    "resend": "Notification queued again: it goes out at once.",
    "missing": "That shipment or notification no longer exists.",
    "busy": "That notification is being sent right now; look again in a minute.",
    "answered": "Answer queued: it goes to the customer on the channel they wrote on.",
    "closed": "Case closed.",
    "empty": "The answer was empty or too long (at most 1600 characters); nothing was sent.",
    "nothing": "Nothing to answer: the customer has not written to us, or is not matched to this order.",
}


# --- sessions ------------------------------------------------------------------------------------------

def _sign(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def make_session(secret: bytes, user: str, expires: float) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(
        {"u": user, "exp": expires, "csrf": secrets.token_urlsafe(24), "sid": secrets.token_urlsafe(24)})
        .encode()).decode()
    return f"{payload}.{_sign(secret, payload.encode())}"


def read_session(secret: bytes, cookie: str | None, now: float) -> dict | None:
    if not cookie or "." not in cookie or len(cookie) > 2000:
        return None
    payload, _, sig = cookie.rpartition(".")
    if not hmac.compare_digest(sig, _sign(secret, payload.encode())):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("exp"), int | float) or data["exp"] < now:
        return None
    if not isinstance(data.get("sid"), str):  # made before logouts were revocable: log in again
        return None
    return data


def _secure(request: web.Request) -> bool:
    return request.app[DAEMON].settings.server.public_url.startswith("https://")


def _page(template: str, request: web.Request, status: int = 200, **ctx) -> web.Response:
    daemon = request.app[DAEMON]
    html = render_page(template, user=request.get(USER), shop=daemon.settings.shop.name, version=daemon.version, **ctx)
    return web.Response(text=html, status=status, content_type="text/html", headers={
        "Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                                   "form-action 'self'; frame-ancestors 'none'"})


@web.middleware
async def support_middleware(request: web.Request, handler):
    if not request.path.startswith("/support") or request.path == "/support/login":
        return await handler(request)
    daemon = request.app[DAEMON]
    session = read_session(request.app[SECRET], request.cookies.get(COOKIE), daemon.clock.now().timestamp())
    if session is not None and (await support_access.is_revoked(daemon.engine, session["sid"])
                                or not await _still_allowed(daemon, str(session.get("u", "")))):
        session = None  # logged out, the user removed from config, or the API key revoked, since logging in
    if session is None:
        if request.method == "GET":
            raise web.HTTPSeeOther("/support/login?" + urlencode({"next": request.path_qs}))
        raise web.HTTPForbidden(text="Your session has ended. Log in again at /support/login.")
    request[USER] = session
    if request.method == "POST":
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf", "")), session["csrf"]):
            log.warning("support form without a valid CSRF token refused (%s)", request.path)
            raise web.HTTPForbidden(text="This form is out of date or did not come from the support console. "
                                         "Go back, reload the page and try again.")
    return await handler(request)


async def _still_allowed(daemon, who: str) -> bool:
    if who.startswith("apikey:"):
        return await apikeys.is_live(daemon.engine, who[len("apikey:"):])
    return any(u.name == who for u in daemon.settings.support.users)


# --- login ---------------------------------------------------------------------------------------------

def _safe_next(raw: str | None) -> str:
    if raw and raw.startswith("/support") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/support"


async def login_form(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(24)
    resp = _page("support_login.html.j2", request, status=status, csrf=token, error=error,
                 next=_safe_next(request.query.get("next")))
    resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", path="/support", secure=_secure(request),
                    max_age=3600)
    return resp


async def login(request: web.Request) -> web.Response:
    if request.method == "GET":
        return await login_form(request)
    daemon = request.app[DAEMON]
    form = await request.post()
    cookie_token = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie_token or not hmac.compare_digest(str(form.get("csrf", "")), cookie_token):
        return await login_form(request, "The login form expired. Please try again.", status=403)
    name = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))[:1000]
    now = daemon.clock.now()
    # an API key is throttled on its own: guesses at other keys never lock a real one out
    throttled = f"apikey:{apikeys.digest(password)[:16]}" if password.startswith(apikeys.KEY_PREFIX) else name
    if not await support_access.reserve_attempt(daemon.engine, throttled, request.remote or "", now):
        log.warning("support login refused: too many attempts for one user name")
        return await login_form(request, "Too many failed attempts. Wait 15 minutes and try again.", status=429)
    who = None
    if password.startswith(apikeys.KEY_PREFIX):
        key_name = await apikeys.check_key(daemon.engine, password, daemon.clock.now())
        who = f"apikey:{key_name}" if key_name else None
    else:
        users = {u.name: u.password_hash for u in daemon.settings.support.users}
        stored = users.get(name, _DUMMY_HASH)
        ok = await asyncio.to_thread(apikeys.verify_password, password, stored)
        who = name if ok and name in users else None
    if who is None:
        log.info("support login refused")
        return await login_form(request, "Wrong user name or password.", status=401)
    await support_access.logged_in(daemon.engine, throttled, request.remote or "", now)
    log.info("support login: %s", who)
    expires = daemon.clock.now().timestamp() + daemon.settings.support.session_hours * 3600
    resp = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))))
    resp.set_cookie(COOKIE, make_session(request.app[SECRET], who, expires), httponly=True, samesite="Strict",
                    path="/support", secure=_secure(request))
    resp.del_cookie(LOGIN_COOKIE, path="/support")
    raise resp


async def logout(request: web.Request) -> web.Response:
    daemon, session = request.app[DAEMON], request[USER]
    await support_access.revoke_session(daemon.engine, session["sid"],
                                        datetime.fromtimestamp(session["exp"], timezone.utc), daemon.clock.now())
    log.info("support logout: %s", session.get("u"))
    resp = web.HTTPSeeOther("/support/login")
    resp.del_cookie(COOKIE, path="/support")
    raise resp


# --- pages ---------------------------------------------------------------------------------------------

async def home(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    q = request.query.get("q", "").strip()[:254]
    results = await common.search(daemon, q) if q else None
    if results and len({o.number for o, _ in results}) == 1:
        raise web.HTTPSeeOther("/support/order?" + urlencode({"number": results[0][0].number}))
    attention = await common.attention(daemon) if not q else []
    waiting = await open_cases(daemon.engine) if not q else []
    pushing = sorted(n for n, rt in getattr(daemon, "carriers", {}).items() if rt.carrier.pushes)
    sources = await source_health(daemon.engine, pushing) if pushing and not q else []
    troubled = [] if q else [h for h in await carrier_health(daemon.engine, sorted(getattr(daemon, "carriers", {})))
                             if h.state != "ok"]
    tz = ZoneInfo(daemon.settings.shop.timezone)
    return _page("support_home.html.j2", request, q=q, results=results, attention=attention, sources=sources,
                 cases=waiting,
                 carriers=troubled,
                 csrf=request[USER]["csrf"], tz=daemon.settings.shop.timezone,
                 t=lambda dt: dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "—")


async def order_page(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    number = request.query.get("number", "")
    view = await common.load_order(daemon, number) if 0 < len(number.strip()) <= 64 else None
    if view is None:
        return _page("support_home.html.j2", request, status=404, q=number, results=[], attention=[],
                     csrf=request[USER]["csrf"])
    tz = ZoneInfo(daemon.settings.shop.timezone)

    def t(dt):
        return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "—"

    base = daemon.settings.server.public_url.rstrip("/")
    return _page("support_order.html.j2", request, view=view, t=t, tz=daemon.settings.shop.timezone, base=base,
                 status_line=common.status_line, done=DONE.get(request.query.get("done", "")),
                 csrf=request[USER]["csrf"])


async def _action(request: web.Request, kind: str) -> web.Response:
    daemon = request.app[DAEMON]
    form = await request.post()
    number = str(form.get("number", ""))[:64]
    raw = request.match_info["id"]
    who = f"support:{request[USER]['u']}"
    done = kind
    try:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise common.NotFound("id", "bad id")
        ident = int(raw)
        if kind == "recheck":
            await common.recheck(daemon, ident, who)
        elif kind == "stop":
            await common.stop(daemon, ident, who)
        else:
            await common.resend(daemon, ident, who)
    except common.NotFound:
        done = "missing"
    except common.Conflict:
        done = "busy"
    raise web.HTTPSeeOther("/support/order?" + urlencode({"number": number, "done": done}))


async def recheck(request: web.Request) -> web.Response:
    return await _action(request, "recheck")


async def stop(request: web.Request) -> web.Response:
    return await _action(request, "stop")


async def resend(request: web.Request) -> web.Response:
    return await _action(request, "resend")


def _case_id(request: web.Request) -> int | None:
    raw = request.match_info["id"]
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def _back(number: str, case_id: int | None, done: str) -> web.HTTPSeeOther:
    if number or case_id is None:
        return web.HTTPSeeOther("/support/order?" + urlencode({"number": number, "done": done}) + "#conversation")
    return web.HTTPSeeOther(f"/support/cases/{case_id}?" + urlencode({"done": done}) + "#conversation")


async def answer(request: web.Request) -> web.Response:
    """The reply box: an order's page (number), or a case's page (a sender matched to no order)."""
    daemon = request.app[DAEMON]
    form = await request.post()
    number = str(form.get("number", ""))[:64]
    case_id = _case_id(request) if "id" in request.match_info else None
    done = "answered"
    try:
        await conversation_answer(daemon.engine, daemon.settings, daemon.clock.now(), text=str(form.get("text", "")),
                                  who=request[USER]["u"], **({"case_id": case_id} if case_id is not None
                                                             else {"order_number": number}))
        daemon.wake_dispatcher()
    except CaseError as exc:
        done = "empty" if exc.field == "text" else "nothing"
    raise _back(number, case_id, done)


async def case_page(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    case_id = _case_id(request)
    case, talk = await case_thread(daemon.engine, case_id) if case_id is not None else (None, None)
    if case is None:
        raise web.HTTPNotFound(text="No such case.")
    tz = ZoneInfo(daemon.settings.shop.timezone)
    return _page("support_case.html.j2", request, case=case, talk=talk, tz=daemon.settings.shop.timezone,
                 t=lambda dt: dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else "—",
                 done=DONE.get(request.query.get("done", "")), csrf=request[USER]["csrf"])


async def close(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    form = await request.post()
    number = str(form.get("number", ""))[:64]
    case_id = _case_id(request)
    done = "closed"
    try:
        if case_id is None:
            raise CaseError("case_id", "bad id")
        await close_case(daemon.engine, case_id, by=f"support:{request[USER]['u']}", now=daemon.clock.now())
    except CaseError:
        done = "missing"
    raise _back(number, case_id, done)


def setup(app: web.Application) -> None:
    daemon = app[DAEMON]
    secret = daemon.settings.support.session_secret
    app[SECRET] = secret.encode() if secret else secrets.token_bytes(32)
    app.middlewares.append(support_middleware)
    app.router.add_get("/support", home)
    app.router.add_route("*", "/support/login", login)
    app.router.add_post("/support/logout", logout)
    app.router.add_get("/support/order", order_page)
    app.router.add_post("/support/shipments/{id}/recheck", recheck)
    app.router.add_post("/support/shipments/{id}/stop", stop)
    app.router.add_post("/support/notifications/{id}/resend", resend)
    app.router.add_post("/support/orders/reply", answer)
    app.router.add_post("/support/cases/{id}/close", close)
    app.router.add_get("/support/cases/{id}", case_page)
    app.router.add_post("/support/cases/{id}/reply", answer)
