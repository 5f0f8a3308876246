"""Channel registry: one module per provider, listed here explicitly."""

from tracker.notify.base import Channel, build_registry
from tracker.notify.console import ConsoleChannel
from tracker.notify.email import SendGridChannel
from tracker.notify.sms import TwilioChannel
from tracker.notify.whatsapp import WhatsAppChannel

CHANNELS: dict[str, type[Channel]] = build_registry(
    ConsoleChannel,
    TwilioChannel,
    SendGridChannel,
    WhatsAppChannel,
)
