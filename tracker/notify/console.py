"""The console channel: prints what the customer would receive, with the recipient redacted."""

from __future__ import annotations

import itertools
import sys
from typing import Literal

from tracker import redact
from tracker.notify.base import Channel, ChannelSettings, Message, SendResult


class ConsoleSettings(ChannelSettings):
    stream: Literal["stdout", "stderr"] = "stdout"
    show_html: bool = False


class ConsoleChannel(Channel):
    name = "console"
    kinds = frozenset({"sms", "email", "whatsapp"})
    Settings = ConsoleSettings
    _ids = itertools.count(1)

    async def send(self, message: Message) -> SendResult:
        stream = sys.stdout if self.settings.stream == "stdout" else sys.stderr
        to = redact.address(message.channel, message.to)
        head = f"── {message.channel.upper()} to {to} · {message.order_number} · {message.milestone} "
        lines = [head + "─" * max(0, 78 - len(head))]
        if message.subject:
            lines.append(f"Subject: {message.subject}")
        lines.append(message.text.rstrip())
        if self.settings.show_html and message.html:
            lines.append(message.html.rstrip())
        stream.write("\n".join(lines) + "\n\n")
        stream.flush()
        return SendResult(provider_id=f"console-{message.notification_id}-{next(self._ids)}")
