"""Support alerts, from raising to delivery: the one place for "support alerts".

Raising: `raise_alert` inserts an alert once per key (shipment or carrier, and cause); it stays until
acknowledged (`ack_alert`, `tracker alerts ack ID`) and is listed by `list_alerts` (`tracker alerts`).

Delivery: each alert row records, per target, when it was delivered (`emailed_at`, `posted_at`). The
`AlertSender` sweep sends what is still missing for targets configured under `support_alerts:`; a failure
is retried with backoff (`notify_after`, `notify_attempts`, `notify_error`) up to `max_attempts`, then
given up with a log line (the alert stays visible in `tracker alerts`). Acknowledged alerts are not sent
any more. The email goes through the email provider configured under `channels.email`, as a Message
whose `notification_id` is the negative alert id, so it can never be mistaken for a customer
notification. The webhook body is `{"text": "..."}`, which Slack-compatible incoming webhooks accept.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tracker import redact
from tracker.clock import Clock
from tracker.config import Settings
from tracker.db import insert_ignore, sessionmaker
from tracker.models import Alert, Order, Shipment
from tracker.notify.base import Channel, Message, Permanent
from tracker.retry import backoff

log = logging.getLogger("tracker.alerts")


async def raise_alert(session: AsyncSession, *, key: str, cause: str, message: str, now: datetime,
                      shipment_id: int | None = None, carrier: str | None = None) -> bool:
    """Insert the alert unless one with the same key exists. Returns True when it is new."""
    stmt = insert_ignore(session.bind, Alert.__table__, [dict(
        key=key, cause=cause, message=message, created_at=now, shipment_id=shipment_id, carrier=carrier,
    )], ["key"])
    result = await session.execute(stmt)
    new = bool(result.rowcount)
    if new:
        log.warning("support alert [%s] %s", cause, message)
    return new

def alert_text(alert: Alert, shop: str) -> str:
    return f"[{shop}] support alert #{alert.id} ({alert.cause}): {alert.message}"


class AlertSender:
    def __init__(self, *, engine, settings: Settings, email: Channel | None, http: aiohttp.ClientSession | None,
                 clock: Clock, rng: random.Random | None = None) -> None:
        self.engine = engine
        self.maker = sessionmaker(engine)
        self.settings = settings
        self.cfg = settings.support_alerts
        self.email = email
        self.http = http
        self.clock = clock
        self.rng = rng or random.Random()
        self.stopping = False
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.cfg.email or self.cfg.webhook_url)

    async def tick(self) -> int:
        """Deliver due alerts. Returns how many alerts were handled (delivered or scheduled for a retry)."""
        if self.stopping or not self.configured:
            return 0
        async with self._lock:
            now = self.clock.now()
            missing = []
            if self.cfg.email:
                missing.append(Alert.emailed_at.is_(None))
            if self.cfg.webhook_url:
                missing.append(Alert.posted_at.is_(None))
            async with self.maker() as session:
                due = (await session.execute(
                    select(Alert).where(or_(*missing), Alert.acked_at.is_(None),
                                        Alert.notify_attempts < self.cfg.max_attempts,
                                        or_(Alert.notify_after.is_(None), Alert.notify_after <= now))
                    .order_by(Alert.id).limit(100))).scalars().all()
            for alert in due:
                if self.stopping:
                    break
                await self._deliver(alert, now)
            return len(due)

    async def _deliver(self, alert: Alert, now: datetime) -> None:
        text = alert_text(alert, self.settings.shop.name)
        values: dict = {}
        errors: list[str] = []
        if self.cfg.email and alert.emailed_at is None:
            try:
                await self._send_email(alert, text)
            except Exception as exc:  # noqa: BLE001 - every failure is retried, none crashes the sweep
                errors.append(f"email: {type(exc).__name__}: {exc}")
            else:
                values["emailed_at"] = now
        if self.cfg.webhook_url and alert.posted_at is None:
            try:
                await self._post(text)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"webhook: {type(exc).__name__}: {exc}")
            else:
                values["posted_at"] = now
        attempts = alert.notify_attempts + 1
        values.update(notify_attempts=attempts, notify_error="; ".join(errors) or None)
        if errors:
            wait = backoff(attempts, self.cfg.backoff_base_seconds, self.cfg.backoff_max_seconds, self.rng)
            values["notify_after"] = now + timedelta(seconds=wait)
            if attempts >= self.cfg.max_attempts:
                log.error("support alert #%s could not be delivered after %d attempts (%s); it stays in "
                          "`tracker alerts`", alert.id, attempts, "; ".join(errors))
            else:
                log.warning("support alert #%s not delivered yet (%s); retrying in %.0f s", alert.id,
                            "; ".join(errors), wait)
        else:
            log.info("support alert #%s delivered to support", alert.id)
        async with self.maker() as session, session.begin():
            await session.execute(update(Alert).where(Alert.id == alert.id).values(**values)
                                  .execution_options(synchronize_session=False))

    async def _send_email(self, alert: Alert, text: str) -> None:
        if self.email is None:
            raise Permanent("no email provider")
        subject = f"[{self.settings.shop.name}] {alert.cause}: {alert.message}"[:150]
        await self.email.send(Message(
            notification_id=-alert.id, channel="email", to=self.cfg.email, text=text, subject=subject,
            milestone="support_alert", order_number=await self._order_number(alert)))
        log.debug("support alert #%s emailed to %s", alert.id, redact.email(self.cfg.email))

    async def _post(self, text: str) -> None:
        if self.http is None:
            raise RuntimeError("no HTTP session")
        where = redact.origin(self.cfg.webhook_url)
        try:
            async with self.http.post(self.cfg.webhook_url, json={"text": text},
                                      timeout=aiohttp.ClientTimeout(total=15)) as resp:
                if resp.status >= 300:
                    body = (await resp.text())[:200]
                    raise RuntimeError(f"HTTP {resp.status} from {where} {body}".strip())
        except TimeoutError:
            raise RuntimeError(f"no answer from {where} within 15 s") from None
        except aiohttp.ClientError as exc:
            raise RuntimeError(f"could not connect to {where}: {redact.connect_reason(exc)}") from None

    async def _order_number(self, alert: Alert) -> str:
        if alert.shipment_id is None:
            return ""
        async with self.maker() as session:
            number = (await session.execute(
                select(Order.number).join(Shipment, Shipment.order_id == Order.id)
                .where(Shipment.id == alert.shipment_id))).scalar_one_or_none()
        return number or ""


# --- support's commands -----------------------------------------------------------------------------

async def list_alerts(engine, *, include_acked: bool = False) -> list[tuple[Alert, str | None]]:
    """Alerts (open ones unless include_acked), newest first, with their order number when they have one."""
    async with sessionmaker(engine)() as session:
        stmt = (select(Alert, Order.number)
                .outerjoin(Shipment, Shipment.id == Alert.shipment_id)
                .outerjoin(Order, Order.id == Shipment.order_id)
                .order_by(Alert.created_at.desc(), Alert.id.desc()))
        if not include_acked:
            stmt = stmt.where(Alert.acked_at.is_(None))
        return [(a, n) for a, n in (await session.execute(stmt)).all()]


async def ack_alert(engine, alert_id: int, *, by: str, now: datetime) -> Alert | None:
    """Acknowledge an alert. Returns it (already-acknowledged ones unchanged), or None when there is none."""
    async with sessionmaker(engine)() as session, session.begin():
        alert = await session.get(Alert, alert_id)
        if alert is None:
            return None
        if alert.acked_at is None:
            alert.acked_at, alert.acked_by = now, by[:64]
        return alert


def delivery_state(alert: Alert, settings: Settings) -> str:
    cfg = settings.support_alerts
    parts = []
    if cfg.email:
        parts.append("emailed" if alert.emailed_at else "email pending")
    if cfg.webhook_url:
        parts.append("posted" if alert.posted_at else "webhook pending")
    if alert.notify_error and len(parts) and any("pending" in p for p in parts):
        parts.append(f"last error: {alert.notify_error}")
    return ", ".join(parts)
