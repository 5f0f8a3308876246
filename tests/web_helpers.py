"""Helpers for tests of the daemon's web server: a daemon with its server on a free port, an API key,
and a real aiohttp client."""

from __future__ import annotations

import html
import re

import aiohttp

from tests.helpers import make_settings
from tracker import apikeys
from tracker.apikeys import hash_password


async def web_daemon(start_daemon, tmp_path, **sections):
    sections.setdefault("server", {"enabled": False, "port": 0, "host": "127.0.0.1"})
    daemon = await start_daemon(make_settings(tmp_path, **sections), web_server=True)
    return daemon


PASSWORD = "correct horse battery"
SUPPORT = {"support": {"users": [{"name": "maria", "password_hash": hash_password(PASSWORD)}]}}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def support_login(client: "Client", user: str = "maria", password: str = PASSWORD) -> tuple[int, str]:
    _, html, _ = await client.request("GET", "/support/login")
    status, html, _ = await client.request("POST", "/support/login", data={
        "csrf": csrf_of(html), "username": user, "password": password, "next": "/support"})
    return status, html


async def api_key(daemon, name: str = "shop") -> str:
    return await apikeys.create_key(daemon.engine, name, daemon.clock.now())


class Client:
    """A thin aiohttp client bound to one daemon (and, optionally, one API key)."""

    def __init__(self, daemon, key: str | None = None) -> None:
        self.base = f"http://127.0.0.1:{daemon.port}"
        self.key = key
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def request(self, method: str, path: str, **kw) -> tuple[int, object, aiohttp.ClientResponse]:
        headers = kw.pop("headers", {}) or {}
        if self.key and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.key}"
        async with self.session.request(method, self.base + path, headers=headers, **kw) as resp:
            body = await resp.read()
            ctype = resp.headers.get("Content-Type", "")
            if ctype.startswith("application/json"):
                import json
                return resp.status, json.loads(body), resp
            return resp.status, body.decode("utf-8", "replace"), resp

    async def close(self) -> None:
        await self.session.close()


# --- the customer's side: plain requests, no session ----------------------------------------------

async def fetch(method: str, url: str, **kw) -> tuple[int, str, dict]:
    """(status, text, headers) of one request, as a customer's browser or mailbox would make it."""
    redirects = kw.pop("allow_redirects", True)
    async with aiohttp.ClientSession() as session, session.request(method, url, allow_redirects=redirects, **kw) as r:
        return r.status, await r.text(), dict(r.headers)


async def preferences_link(daemon, ship) -> str:
    """The preferences link the customer's tracking page shows (absolute)."""
    status, page, _ = await fetch("GET", f"{daemon.settings.server.public_url}/t/{ship.public_token}")
    assert status == 200
    return daemon.settings.server.public_url + html.unescape(re.search(r'id="preferences-link" href="([^"]+)"',
                                                                       page).group(1))


def hidden(page: str) -> dict:
    """The hidden fields of a page's form (the signed link's expiry and signature)."""
    return {m.group(1): html.unescape(m.group(2))
            for m in re.finditer(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)}


async def console_get(daemon, path: str) -> tuple[int, str, aiohttp.ClientResponse]:
    """GET a support console page as a logged-in support user (SUPPORT settings)."""
    console = Client(daemon)
    try:
        await support_login(console)
        return await console.request("GET", path)
    finally:
        await console.close()
