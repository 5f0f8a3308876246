"""At DEBUG, with the database driver echoing every query and row, no log line holds an email address,
a phone number, a tracking-page token or an API key (or its hash)."""

from __future__ import annotations

import io
import logging
import sys

from sqlalchemy import select

from tests.test_intake_webhooks import SHOPIFY_SECRET
from tests.test_interfaces_logs import drive_interfaces
from tests.web_helpers import SUPPORT, web_daemon
from tracker import logs, redact
from tracker.db import sessionmaker
from tracker.models import ApiKey, Shipment


async def test_debug_logs_with_query_echo_hold_no_personal_data(start_daemon, tmp_path, clock, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.setup("DEBUG")
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)  # echo: every statement, value and row
    try:
        daemon = await web_daemon(start_daemon, tmp_path, intake={"shopify_secret": SHOPIFY_SECRET}, **SUPPORT)
        secrets_and_contacts = await drive_interfaces(daemon, clock)
        async with sessionmaker(daemon.engine)() as s:
            tokens = list((await s.execute(select(Shipment.public_token))).scalars())
            hashes = list((await s.execute(select(ApiKey.key_hash))).scalars())
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.NOTSET)
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    text = stream.getvalue()
    assert "SELECT" in text and "DEBUG" in text  # the queries were logged, at DEBUG
    assert tokens and len(hashes) == 1
    for value in [*secrets_and_contacts, "+14155550133", *tokens, *hashes]:
        assert value not in text, value


def test_redaction_masks_contacts_and_tokens_in_any_text():
    line = "Row ('ORDER-1', 'ana.silva@example.com', '+14155550101', 'Zx9_abcdefghijklmnopqrstuvwx', 'a1b2')"
    masked = redact.text(line)
    assert "ana.silva@example.com" not in masked and "a•••@example.com" in masked
    assert "+14155550101" not in masked and "+1••••••••01" in masked
    assert "Zx9_abcdefghijklmnopqrstuvwx" not in masked and "'a1b2'" in masked and "ORDER-1" in masked
    assert redact.text("USPS 9400111899223100001113000000") == "USPS 9400111899223100001113000000"
