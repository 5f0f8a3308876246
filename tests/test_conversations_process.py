"""The daemon as a real process answers a customer's question by itself: a signed inbound SMS to its web
server, the answer at the fake Twilio within seconds, through the outbox, without anyone running a tick."""

from __future__ import annotations

import socket

import pytest

from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.procs import Daemons, daemon_config
from tests.test_daemon_process import register, wait_for

pytestmark = pytest.mark.slow
PHONE = "+14155550101"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_running_daemon_answers_a_status_question_within_seconds(tmp_path):
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    async with FakeTwilio() as tw:
        daemon_config(tmp_path, server={"enabled": True, "host": "127.0.0.1", "port": port, "public_url": public},
                      channels={"sms": {"provider": "twilio"}, "email": {"provider": "console"}},
                      providers={"console": {}, "twilio": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                                                           "from_number": "+15005550006", "base_url": tw.url,
                                                           "timeout_seconds": 2}},
                      dispatcher={"tick_seconds": 30})  # the answer must not wait for a periodic tick
        async with Daemons(tmp_path) as daemons:
            await register(daemons, "ORDER-77", "DELIVER")
            run = await daemons.start("run", name="daemon")
            await wait_for(lambda: "web server on" in run.stderr() + run.stdout(), what="the web server")
            before = len(tw.to(PHONE))
            r = await tw.inbound(f"{public}/webhooks/twilio/inbound", PHONE, "where is my order??")
            assert r.status == 200
            def answers() -> list[str]:  # the status answer's own form, not a milestone message
                return [m["Body"] for m in tw.to(PHONE)[before:] if m["Body"].startswith("Demo Shop: order ORDER-77: ")]

            await wait_for(lambda: answers(), timeout=20, what="the automatic answer")
            assert len(answers()) == 1 and "/t/" in answers()[0]
            run.terminate()
            assert await run.wait() == 0, run.stderr()
