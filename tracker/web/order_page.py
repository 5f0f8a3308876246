"""The order's page before it ships, /o/<token>: the link of the "still preparing" message.

"Confirmed — being prepared, ships by <date>" (the order's time plus `watch.handling_hours`), in the
order's language; once parcels exist, the order's state and each parcel with a link to its own page.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select

from tracker.db import sessionmaker
from tracker.models import Order, Shipment
from tracker.notify.render import localized_date
from tracker.web.common import DAEMON
from tracker.web.customer import (
    STRINGS,
    TOKEN,
    babel_locale,
    page_headers,
    parcels_context,
    pick_locale,
    reach_the_shop,
    render_page,
)

ORDER_STRINGS: dict[str, dict[str, str]] = {
    "en": {"confirmed": "Confirmed — being prepared", "ships_by": "Ships by", "late": "It is taking longer than we "
           "promised. We are sorry for the wait; you will get the tracking link as soon as it leaves us.",
           "soon": "You will get a message with the tracking link as soon as it leaves us.",
           "cancelled": "This order was cancelled.", "shipped": "On its way"},
    "pt-BR": {"confirmed": "Confirmado — em preparação", "ships_by": "Envio até", "late": "Está demorando mais do "
              "que prometemos. Desculpe a espera; você receberá o link de rastreio assim que o pedido sair.",
              "soon": "Você receberá uma mensagem com o link de rastreio assim que o pedido sair.",
              "cancelled": "Este pedido foi cancelado.", "shipped": "A caminho"},
    "es": {"confirmed": "Confirmado — lo estamos preparando", "ships_by": "Sale como tarde el", "late": "Está "
           "tardando más de lo que prometimos. Perdona la espera; te enviaremos el enlace de seguimiento en cuanto "
           "salga.", "soon": "Te enviaremos un mensaje con el enlace de seguimiento en cuanto salga.",
           "cancelled": "Este pedido se ha cancelado.", "shipped": "En camino"},
    "el": {"confirmed": "Επιβεβαιώθηκε — ετοιμάζεται", "ships_by": "Αποστολή έως", "late": "Καθυστερεί περισσότερο "
           "απ' ό,τι υποσχεθήκαμε. Ζητούμε συγγνώμη για την αναμονή· θα λάβετε τον σύνδεσμο παρακολούθησης μόλις "
           "σταλεί.", "soon": "Θα λάβετε μήνυμα με τον σύνδεσμο παρακολούθησης μόλις σταλεί.",
           "cancelled": "Η παραγγελία ακυρώθηκε.", "shipped": "Καθ' οδόν"},
}


async def order_page(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    shop = daemon.settings.shop
    token = request.match_info["token"]
    order, ships = None, []
    if TOKEN.match(token):
        async with sessionmaker(daemon.engine)() as session:
            order = (await session.execute(select(Order).where(Order.public_token == token))).scalar_one_or_none()
            if order is not None:
                ships = list((await session.execute(select(Shipment).where(
                    Shipment.order_id == order.id, Shipment.stopped_at.is_(None)).order_by(Shipment.id))).scalars())
    if order is None:
        lang = pick_locale(request.query.get("lang"))
        html = render_page("not_found.html.j2", lang=lang, t=STRINGS[lang], shop=shop.name, colors=shop.colors,
                           **reach_the_shop(shop, lang))
        return web.Response(text=html, status=404, content_type="text/html", headers=page_headers(shop))
    if len(ships) == 1:  # one parcel: its own page says everything
        raise web.HTTPFound(f"/t/{ships[0].public_token}")
    lang = pick_locale(request.query.get("lang") or order.locale)
    tz = ZoneInfo(order.timezone or shop.timezone)
    hours = daemon.settings.watch.handling_hours
    due = (order.created_at + timedelta(hours=hours)) if hours else None
    ships_by = localized_date(due.astimezone(tz).date(), lang) if due else None
    parcels = parcels_context(ships, ships[0], lang, STRINGS[lang], babel_locale(lang), tz) if ships else {}
    html = render_page(
        "order.html.j2", lang=lang, t=STRINGS[lang], o=ORDER_STRINGS[lang], shop=shop.name, logo_url=shop.logo_url,
        colors=shop.colors, order_number=order.number, **reach_the_shop(shop, order.locale),
        cancelled=order.cancelled_at is not None, shipped=bool(ships), ships_by=ships_by,
        late=bool(due and daemon.clock.now() > due), parcels=[dict(p, href=f"/t/{s.public_token}")
                                                              for p, s in zip(parcels.get("parcels", []), ships)],
        parcels_title=parcels.get("parcels_title"))
    return web.Response(text=html, content_type="text/html", headers=page_headers(shop))


def setup(app: web.Application) -> None:
    app.router.add_get("/o/{token}", order_page)
