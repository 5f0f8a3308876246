"""A form that cannot be read (bytes that are not UTF-8, an unknown charset, a broken multipart body, a file
where none is asked for) answers 400 naming the fix on every route that reads forms, never 500 with a
traceback; the daemon keeps serving and nothing is written."""

from __future__ import annotations

import logging

import pytest

from tests.helpers import add
from tests.web_helpers import SUPPORT, Client, support_login, web_daemon

MULTIPART = "multipart/form-data; boundary=XX"
BAD_BODIES = [
    ("urlencoded, not UTF-8", "application/x-www-form-urlencoded", b"csrf=%ff%fe&username=\xff\xfe"),
    ("unknown charset", "application/x-www-form-urlencoded; charset=nope", b"a=b"),
    ("multipart without a boundary", "multipart/form-data", b"garbage"),
    ("multipart cut short", MULTIPART, b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n"),
    ("multipart with a broken header", MULTIPART, b"--XX\r\nbad header\r\n\r\nv\r\n--XX--\r\n"),
    ("multipart field not UTF-8", MULTIPART,
     b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\xfe\r\n--XX--\r\n"),
    ("a file", MULTIPART,
     b"--XX\r\nContent-Disposition: form-data; name=\"password\"; filename=\"f\"\r\n\r\nab\r\n--XX--\r\n"),
]


@pytest.fixture
async def served(tmp_path, start_daemon, fakes):
    from tests.messaging_env import messaging_sections

    tw, sg = fakes
    daemon = await web_daemon(start_daemon, tmp_path, **SUPPORT, **messaging_sections(tw, sg))
    ship = await add(daemon, "ORDER-1", "SBX-DELIVER-1")
    return daemon, ship


@pytest.mark.parametrize("what, ctype, body", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_a_malformed_form_answers_400_on_every_form_route(served, caplog, what, ctype, body):
    daemon, ship = served
    client = Client(daemon)
    try:
        assert (await support_login(client))[0] == 200  # logged in: the console's own forms are reached too
        routes = ["/support/login", f"/p/{ship.public_token}", f"/u/{ship.public_token}/email",
                  f"/rate/{ship.public_token}/5", "/webhooks/twilio/inbound", "/webhooks/twilio/status",
                  f"/support/shipments/{ship.id}/recheck", "/support/logout"]
        for path in routes:
            status, text, _ = await client.request("POST", path, data=body, headers={"Content-Type": ctype})
            assert status == 400, (path, status, text[:200])
            assert text.startswith("form: ") and "Fix: send the form as UTF-8" in text and "Traceback" not in text
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        status, text, _ = await client.request("GET", "/support")  # still logged in, still serving
        assert status == 200
    finally:
        await client.close()


async def test_a_latin1_form_that_says_so_is_read(served):
    daemon, _ = served
    client = Client(daemon)
    try:
        status, text, _ = await client.request("POST", "/support/login", data="username=jos\xe9".encode("latin-1"),
                                               headers={"Content-Type": "application/x-www-form-urlencoded; "
                                                                        "charset=latin-1"})
        assert status == 403 and "login form expired" in text  # read, then refused for its missing token
    finally:
        await client.close()
