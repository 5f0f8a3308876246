"""After delivery: the five one-click rating links of the follow-up email, answered here.

A link is `/rate/<shipment public token>/<score>?sig=<HMAC>`: the HMAC-SHA256 (key `follow_up.secret`) of
the token and the score, so nobody can rate a shipment, or change the score, without the email. A link
counts once: the first click records the rating (one per shipment, a UNIQUE key), every later click of
any of the five links is refused. The thank-you page offers an optional comment, accepted once.
A rating at or below `follow_up.low_rating` raises a support alert.

The click itself records the rating (one click, as promised in the email). Mail scanners that open
links ahead of the customer would record it too; the page says how to correct it (write to support).
"""

from __future__ import annotations

import html
import logging

from aiohttp import web
from sqlalchemy import select, update

from tracker import alerts
from tracker.db import insert_ignore, sessionmaker
from tracker.follow_up import LABELS, verify
from tracker.models import Order, Rating, Shipment

log = logging.getLogger("tracker.web.rating")

MAX_COMMENT = 2000


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, content_type="text/html", text=(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title></head>'
        f'<body style="font-family:system-ui,sans-serif;max-width:560px;margin:40px auto;padding:0 16px">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"))


def _daemon(request: web.Request):
    from tracker.web.common import DAEMON

    return request.app[DAEMON]


async def _checked(request: web.Request, score_text: str, sig: str):
    """(daemon, shipment, order, score) for a genuine link; raises a refusal page otherwise."""
    daemon = _daemon(request)
    token = request.match_info["token"]
    try:
        score = int(score_text)
    except ValueError:
        score = 0
    if score not in LABELS or not verify(daemon.settings.follow_up.secret, token, score, sig):
        raise _refused("This link is not valid", "It may have been altered. Please use the links in our email.", 403)
    async with sessionmaker(daemon.engine)() as session:
        row = (await session.execute(select(Shipment, Order).join(Order, Order.id == Shipment.order_id)
                                     .where(Shipment.public_token == token))).first()
    if row is None:
        raise _refused("This link is not valid", "We do not know this parcel.", 404)
    return daemon, row[0], row[1], score


def _refused(title: str, text: str, status: int) -> web.HTTPException:
    response = _page(title, f"<p>{html.escape(text)}</p>", status)
    exc = {403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict}[status]
    return exc(text=response.text, content_type="text/html")


async def rate(request: web.Request) -> web.Response:
    daemon, ship, order, score = await _checked(request, request.match_info["score"], request.query.get("sig", ""))
    now = daemon.clock.now()
    async with sessionmaker(daemon.engine)() as session, session.begin():
        result = await session.execute(insert_ignore(daemon.engine, Rating.__table__, [dict(
            shipment_id=ship.id, order_id=order.id, score=score, created_at=now)], ["shipment_id"]))
        if not result.rowcount:
            raise _refused("You have already answered",
                           f"Thank you: we already have your answer for order {order.number}. "
                           f"To change it, write to {daemon.settings.shop.support_email}.", 409)
        if score <= daemon.settings.follow_up.low_rating:
            await alerts.raise_alert(
                session, key=f"shipment:{ship.id}:low_rating", cause="low_rating", shipment_id=ship.id, now=now,
                message=f"order {order.number}: the customer rated the delivery {score}/5. Get in touch: "
                        f"`tracker status {order.number}` shows their comment if they leave one.")
    log.info("order %s rated %d/5", order.number, score)
    sig = request.query.get("sig", "")
    form = (f'<form method="post" action="/rate/{html.escape(ship.public_token)}/{score}/comment">'
            f'<input type="hidden" name="sig" value="{html.escape(sig)}">'
            f'<p><label for="c">Anything you would like to tell us? (optional)</label></p>'
            f'<textarea id="c" name="comment" rows="5" maxlength="{MAX_COMMENT}" style="width:100%"></textarea>'
            f'<p><button type="submit">Send</button></p></form>')
    sorry = ("<p>We are sorry it did not go well. Our team will look into it and get back to you.</p>"
             if score <= daemon.settings.follow_up.low_rating else "")
    return _page(f"Thank you for your answer ({score}/5)", f"<p>Order {html.escape(order.number)}: "
                 f"{html.escape(LABELS[score])}.</p>{sorry}{form}"
                 f"<p style=\"color:#78716c;font-size:13px\">Not your answer? Write to "
                 f"{html.escape(daemon.settings.shop.support_email)}.</p>")


async def comment(request: web.Request) -> web.Response:
    data = await request.post()
    daemon, ship, order, score = await _checked(request, request.match_info["score"], str(data.get("sig", "")))
    text = str(data.get("comment", "")).strip()[:MAX_COMMENT]
    if not text:
        return _page("Thank you", "<p>Your rating is recorded.</p>")
    now = daemon.clock.now()
    async with sessionmaker(daemon.engine)() as session, session.begin():
        result = await session.execute(
            update(Rating).where(Rating.shipment_id == ship.id, Rating.score == score, Rating.comment.is_(None))
            .values(comment=text, commented_at=now).execution_options(synchronize_session=False))
    if not result.rowcount:
        raise _refused("You have already answered", "We already have your comment. Thank you.", 409)
    return _page("Thank you", "<p>Your comment reached us. Thank you for taking the time.</p>")


def add_rating_routes(app: web.Application) -> None:
    app.router.add_get("/rate/{token}/{score}", rate)
    app.router.add_post("/rate/{token}/{score}/comment", comment)
