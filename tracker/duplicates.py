"""Duplicates the customer got, counted: a second provider message seen for one notification.

Seen three ways: a daemon's send outcome arrives for a row another daemon already recorded as sent with
another message (a database cut longer than the lease), a Twilio status callback names the notification
with a message that is not the recorded one, or a SendGrid event does. Each (notification, message) is
kept once in `duplicate_sends` and /metrics counts them by channel (tracker_notifications_duplicates).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select

from tracker.db import insert_ignore
from tracker.models import DuplicateSend

log = logging.getLogger("tracker.duplicates")


async def record(session, engine, *, notification_id: int, channel: str, provider_id: str, seen_by: str,
                 now: datetime) -> bool:
    """Keep one duplicate (once per message). True when it was not known yet."""
    result = await session.execute(insert_ignore(engine, DuplicateSend.__table__, [dict(
        notification_id=notification_id, channel=channel, provider_id=provider_id[:128], seen_by=seen_by,
        seen_at=now)], ["notification_id", "provider_id"]))
    if result.rowcount:
        log.warning("notification %s reached the customer twice on %s (second message seen by %s); counted in "
                    "tracker_notifications_duplicates", notification_id, channel, seen_by)
    return bool(result.rowcount)


async def counts(session) -> dict[str, int]:
    """channel -> duplicates seen."""
    return dict((await session.execute(select(DuplicateSend.channel, func.count())
                                       .group_by(DuplicateSend.channel))).all())
