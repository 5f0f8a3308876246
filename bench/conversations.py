"""Customers' messages in: CPU per inbound SMS (signed Twilio webhook -> record -> understand -> answer queued)
and per automatic answer sent (dispatcher -> the real Twilio SDK -> the fake), on the embedded SQLite database.

    flock /work/locks/bench.lock .venv/bin/python bench/conversations.py [--messages 400]

Half the messages are status questions of known senders in the four languages (answered through the
outbox), a quarter go to a person (a case), a quarter come from unknown senders (asked for the order
number in the webhook's own reply). Prints CPU seconds (this process: the daemon, its web server, the
fakes and the client all run here, so it is an upper bound) per message.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.sendgrid import FakeSendGrid  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402
from tests.helpers import add  # noqa: E402
from tests.messaging_env import messaging_settings, point_public_url  # noqa: E402
from tracker.app import Daemon  # noqa: E402
from tracker.clock import FakeClock  # noqa: E402

QUESTIONS = ["¿Dónde está mi pedido?", "Cadê meu pedido?", "Πού είναι η παραγγελία μου;", "where is my order"]
CASES = ["Chegou quebrado", "I got the wrong size", "Quiero cancelar mi pedido", "Δεν το παρέλαβα"]


async def main(messages: int) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc))
    now = lambda: clock.now().timestamp()  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTwilio(now=now) as tw, FakeSendGrid(now=now) as sg:
            settings = messaging_settings(Path(tmp), tw, sg, conversations={"auto_answers_per_hour": 100},
                                          quiet_hours={"enabled": False})
            daemon = Daemon(settings, clock=clock)
            await daemon.start(web_server=True)
            try:
                url = point_public_url(daemon) + "/webhooks/twilio/inbound"
                senders = max(1, messages // 8)
                for i in range(senders):
                    await add(daemon, f"B-{i}", f"SBX-DELIVER-{i}", phone=f"+1415555{i:04d}",
                              email=f"c{i}@example.com", locale=["es", "pt-BR", "el", "en"][i % 4])
                t0 = time.process_time()
                for n in range(messages):
                    kind = n % 4
                    sender = f"+1415555{n % senders:04d}" if kind < 3 else f"+1415666{n:04d}"
                    text = CASES[n % 4] if kind == 2 else QUESTIONS[n % 4]
                    r = await tw.inbound(url, sender, text)
                    assert r.status == 200
                t1 = time.process_time()
                await daemon.run_once()
                t2 = time.process_time()
                answered = len(tw.messages)
            finally:
                await daemon.close()
    print(f"inbound messages: {messages}; CPU {t1 - t0:.2f} s -> {(t1 - t0) / messages * 1000:.2f} ms per message "
          "(webhook, signature, record, understand, answer queued; client and fake included)")
    print(f"answers sent through the outbox: {answered}; CPU {t2 - t1:.2f} s -> "
          f"{(t2 - t1) / max(answered, 1) * 1000:.2f} ms per answer")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    asyncio.run(main(parser.parse_args().messages))
