"""The customer's tracking page, /t/<token>: the link in every message.

The token is 24 random bytes per shipment (unguessable). The page shows the steps as a progress bar,
the expected date and the carrier's events, in the order's language (en, pt-BR, es, el; others fall
back to their language, then English). It never shows the customer's email, phone or address.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aiohttp import web
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from jinja2 import Environment, PackageLoader
from sqlalchemy import select

from tracker import problems
from tracker.db import sessionmaker
from tracker.models import Order, Shipment, TrackingEventRow
from tracker.notify.render import localized_date
from tracker.orders import NOT_TRACKABLE, UNKNOWN_CARRIER, has_number
from tracker.web.common import DAEMON
from tracker.wording import details

TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

TEMPLATES = Environment(loader=PackageLoader("tracker", "web/templates"), autoescape=True,
                        trim_blocks=True, lstrip_blocks=True)

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "reach_us": "Questions? Contact us", "email": "Email", "phone": "Phone", "hours": "Hours",
        "carrier_says": "The carrier's own words", "todo": "What you need to do",
        "title": "Your package", "order": "Order", "progress": "Delivery progress",
        "expected": "Expected delivery", "delivered_on": "Delivered on", "pickup": "Pickup point",
        "carrier": "Carrier", "tracking_number": "Tracking number", "history": "Tracking history",
        "no_events": "No news from the carrier yet. We check regularly and will let you know.",
        "stopped": "We are no longer tracking this package.",
        "preferences": "How we keep you informed: channels, language, unsubscribe",
        "not_found": "This tracking link is not valid. Please check the link in your message.",
        "step_ordered": "Label created", "step_shipped": "Shipped", "step_out": "Out for delivery",
        "step_delivered": "Delivered",
        "pending": "Waiting for the carrier", "info_received": "Label created", "in_transit": "On its way",
        "out_for_delivery": "Out for delivery", "available_for_pickup": "Ready for pickup",
        "failed_attempt": "Delivery attempt failed", "delivered": "Delivered",
        "exception": "There is a problem with the delivery", "expired": "No news from the carrier",
        "unknown": "Update from the carrier",
        "not_trackable": "Shipped", "shipped_with": "Shipped with {carrier}",
        "follow": "Follow your parcel on the carrier's website",
        "untracked_link": "The carrier shows this parcel's journey on its own website: use the link above.",
        "untracked": "The carrier does not share this parcel's journey with us. Questions? Contact us below.",
    },
    "pt-BR": {
        "reach_us": "Dúvidas? Fale com a gente", "email": "E-mail", "phone": "Telefone",
        "hours": "Horário de atendimento", "carrier_says": "Mensagem original da transportadora",
        "todo": "O que você precisa fazer",
        "title": "Sua encomenda", "order": "Pedido", "progress": "Andamento da entrega",
        "expected": "Previsão de entrega", "delivered_on": "Entregue em", "pickup": "Ponto de retirada",
        "carrier": "Transportadora", "tracking_number": "Código de rastreio", "history": "Histórico de rastreamento",
        "no_events": "Ainda sem notícias da transportadora. Verificamos com frequência e avisaremos você.",
        "stopped": "Não estamos mais acompanhando esta encomenda.",
        "preferences": "Como avisamos você: canais, idioma, cancelar inscrição",
        "not_found": "Este link de rastreamento não é válido. Confira o link na sua mensagem.",
        "step_ordered": "Etiqueta criada", "step_shipped": "Enviado", "step_out": "Saiu para entrega",
        "step_delivered": "Entregue",
        "pending": "Aguardando a transportadora", "info_received": "Etiqueta criada", "in_transit": "Em trânsito",
        "out_for_delivery": "Saiu para entrega", "available_for_pickup": "Disponível para retirada",
        "failed_attempt": "Tentativa de entrega sem sucesso", "delivered": "Entregue",
        "exception": "Há um problema com a entrega", "expired": "Sem notícias da transportadora",
        "unknown": "Atualização da transportadora",
        "not_trackable": "Enviado", "shipped_with": "Enviado pela {carrier}",
        "follow": "Acompanhe sua encomenda no site da transportadora",
        "untracked_link": "A transportadora mostra o trajeto desta encomenda no site dela: use o link acima.",
        "untracked": "A transportadora não compartilha conosco o trajeto desta encomenda. Dúvidas? Fale com a gente abaixo.",
    },
    "es": {
        "reach_us": "¿Dudas? Escríbenos", "email": "Correo", "phone": "Teléfono", "hours": "Horario",
        "carrier_says": "Mensaje original del transportista", "todo": "Qué tienes que hacer",
        "title": "Tu paquete", "order": "Pedido", "progress": "Progreso de la entrega",
        "expected": "Entrega prevista", "delivered_on": "Entregado el", "pickup": "Punto de recogida",
        "carrier": "Transportista", "tracking_number": "Número de seguimiento", "history": "Historial de seguimiento",
        "no_events": "Todavía no hay noticias del transportista. Lo consultamos a menudo y te avisaremos.",
        "stopped": "Ya no estamos siguiendo este paquete.",
        "preferences": "Cómo te avisamos: canales, idioma, darse de baja",
        "not_found": "Este enlace de seguimiento no es válido. Revisa el enlace de tu mensaje.",
        "step_ordered": "Etiqueta creada", "step_shipped": "Enviado", "step_out": "En reparto",
        "step_delivered": "Entregado",
        "pending": "Esperando al transportista", "info_received": "Etiqueta creada", "in_transit": "En tránsito",
        "out_for_delivery": "En reparto", "available_for_pickup": "Listo para recoger",
        "failed_attempt": "Intento de entrega fallido", "delivered": "Entregado",
        "exception": "Hay un problema con la entrega", "expired": "Sin noticias del transportista",
        "unknown": "Actualización del transportista",
        "not_trackable": "Enviado", "shipped_with": "Enviado con {carrier}",
        "follow": "Sigue tu paquete en la web del transportista",
        "untracked_link": "El transportista muestra el recorrido de este paquete en su propia web: usa el enlace de arriba.",
        "untracked": "El transportista no comparte con nosotros el recorrido de este paquete. ¿Dudas? Escríbenos abajo.",
    },
    "el": {
        "reach_us": "Ερωτήσεις; Επικοινωνήστε μαζί μας", "email": "Email", "phone": "Τηλέφωνο",
        "hours": "Ωράριο", "carrier_says": "Το αρχικό μήνυμα της μεταφορικής",
        "todo": "Τι χρειάζεται να κάνετε",
        "title": "Το δέμα σας", "order": "Παραγγελία", "progress": "Πρόοδος παράδοσης",
        "expected": "Αναμενόμενη παράδοση", "delivered_on": "Παραδόθηκε στις", "pickup": "Σημείο παραλαβής",
        "carrier": "Μεταφορική", "tracking_number": "Αριθμός αποστολής", "history": "Ιστορικό αποστολής",
        "no_events": "Δεν υπάρχουν ακόμη νέα από τη μεταφορική. Ελέγχουμε τακτικά και θα σας ενημερώσουμε.",
        "stopped": "Δεν παρακολουθούμε πλέον αυτό το δέμα.",
        "preferences": "Πώς σας ενημερώνουμε: κανάλια, γλώσσα, διαγραφή",
        "not_found": "Αυτός ο σύνδεσμος παρακολούθησης δεν είναι έγκυρος. Ελέγξτε τον σύνδεσμο στο μήνυμά σας.",
        "step_ordered": "Ετικέτα έτοιμη", "step_shipped": "Στάλθηκε", "step_out": "Σε διανομή",
        "step_delivered": "Παραδόθηκε",
        "pending": "Αναμονή για τη μεταφορική", "info_received": "Δημιουργήθηκε η ετικέτα", "in_transit": "Καθ' οδόν",
        "out_for_delivery": "Σε διανομή", "available_for_pickup": "Διαθέσιμο για παραλαβή",
        "failed_attempt": "Αποτυχημένη απόπειρα παράδοσης", "delivered": "Παραδόθηκε",
        "exception": "Υπάρχει πρόβλημα με την παράδοση", "expired": "Χωρίς νέα από τη μεταφορική",
        "unknown": "Ενημέρωση από τη μεταφορική",
        "not_trackable": "Στάλθηκε", "shipped_with": "Στάλθηκε μέσω {carrier}",
        "follow": "Παρακολουθήστε το δέμα σας στον ιστότοπο της μεταφορικής",
        "untracked_link": "Η μεταφορική δείχνει τη διαδρομή αυτού του δέματος στον δικό της ιστότοπο: χρησιμοποιήστε τον σύνδεσμο παραπάνω.",
        "untracked": "Η μεταφορική δεν μας ενημερώνει για τη διαδρομή αυτού του δέματος. Ερωτήσεις; Επικοινωνήστε μαζί μας παρακάτω.",
    },
}

# Event times as each locale writes them, never with seconds: en-US 12-hour, pt-BR "14h35", es and el 24-hour.
TIME_PATTERNS = {"en": "EEE, MMM d · h:mm a", "pt": "EEE, d 'de' MMM · HH'h'mm", "es": "EEE d MMM · H:mm",
                 "el": "EEE d MMM · HH:mm"}

# What lets the customer act: next attempt and the carrier's rescheduling page, the pickup point, proof of
# delivery and "report a problem".
ACT_STRINGS: dict[str, dict[str, str]] = {
    'en': {
        'next_attempt': 'Next delivery attempt',
        'reschedule': "Choose another day or place on the carrier's site",
        'no_reschedule': 'To change the delivery, contact {carrier} with your tracking number.',
        'pickup_until': 'Pick it up by',
        'address': 'Address',
        'map': 'Open the map (OpenStreetMap)',
        'signed_by': 'Signed for by',
        'report_title': 'Something wrong with your parcel?',
        'report_kind': 'What happened',
        'k_not_received': 'It did not arrive',
        'k_damaged': 'It arrived damaged',
        'k_missing_items': 'Items are missing',
        'k_other': 'Something else',
        'report_message': 'Tell us more (optional)',
        'report_send': 'Send to the shop',
        'reported': 'Thank you. We have your report and will write to you soon.',
    },
    'pt-BR': {
        'next_attempt': 'Próxima tentativa de entrega',
        'reschedule': 'Escolha outro dia ou local no site da transportadora',
        'no_reschedule': 'Para mudar a entrega, fale com a transportadora {carrier} informando o código de rastreio.',
        'pickup_until': 'Retire até',
        'address': 'Endereço',
        'map': 'Abrir o mapa (OpenStreetMap)',
        'signed_by': 'Recebido por',
        'report_title': 'Algum problema com a encomenda?',
        'report_kind': 'O que aconteceu',
        'k_not_received': 'Não chegou',
        'k_damaged': 'Chegou danificada',
        'k_missing_items': 'Faltam itens',
        'k_other': 'Outro problema',
        'report_message': 'Conte mais (opcional)',
        'report_send': 'Enviar para a loja',
        'reported': 'Obrigado. Recebemos o seu aviso e vamos responder em breve.',
    },
    'es': {
        'next_attempt': 'Próximo intento de entrega',
        'reschedule': 'Elige otro día u otro lugar en la web del transportista',
        'no_reschedule': 'Para cambiar la entrega, contacta con {carrier} y dales tu número de seguimiento.',
        'pickup_until': 'Recógelo hasta el',
        'address': 'Dirección',
        'map': 'Abrir el mapa (OpenStreetMap)',
        'signed_by': 'Firmado por',
        'report_title': '¿Algún problema con el paquete?',
        'report_kind': 'Qué ha pasado',
        'k_not_received': 'No ha llegado',
        'k_damaged': 'Ha llegado dañado',
        'k_missing_items': 'Faltan artículos',
        'k_other': 'Otra cosa',
        'report_message': 'Cuéntanos más (opcional)',
        'report_send': 'Enviar a la tienda',
        'reported': 'Gracias. Hemos recibido tu aviso y te escribiremos pronto.',
    },
    'el': {
        'next_attempt': 'Επόμενη απόπειρα παράδοσης',
        'reschedule': 'Επιλέξτε άλλη μέρα ή σημείο στον ιστότοπο της μεταφορικής',
        'no_reschedule': 'Για να αλλάξετε την παράδοση, επικοινωνήστε με τη μεταφορική {carrier} '
                         'δίνοντας τον αριθμό αποστολής.',
        'pickup_until': 'Παραλάβετέ το έως',
        'address': 'Διεύθυνση',
        'map': 'Άνοιγμα χάρτη (OpenStreetMap)',
        'signed_by': 'Παραλήφθηκε από',
        'report_title': 'Κάποιο πρόβλημα με το δέμα;',
        'report_kind': 'Τι συνέβη',
        'k_not_received': 'Δεν έφτασε',
        'k_damaged': 'Έφτασε κατεστραμμένο',
        'k_missing_items': 'Λείπουν προϊόντα',
        'k_other': 'Κάτι άλλο',
        'report_message': 'Πείτε μας περισσότερα (προαιρετικά)',
        'report_send': 'Αποστολή στο κατάστημα',
        'reported': 'Ευχαριστούμε. Λάβαμε την αναφορά σας και θα σας γράψουμε σύντομα.',
    },
}
for _lang, _words in ACT_STRINGS.items():
    STRINGS[_lang].update(_words)

# Orders with several parcels: the page names this parcel and lists the others (tracker/parcels.py).
PARCEL_STRINGS: dict[str, dict[str, str]] = {
    "en": {"parcels": "Your order travels in {n} parcels", "parcel": "Parcel {i} of {n}", "this": "this page",
           "state": "Your order: {d} of {n} parcels delivered"},
    "pt-BR": {"parcels": "Seu pedido vai em {n} pacotes", "parcel": "Pacote {i} de {n}", "this": "esta página",
              "state": "Seu pedido: {d} de {n} pacotes entregues"},
    "es": {"parcels": "Tu pedido viaja en {n} paquetes", "parcel": "Paquete {i} de {n}", "this": "esta página",
           "state": "Tu pedido: {d} de {n} paquetes entregados"},
    "el": {"parcels": "Η παραγγελία σας ταξιδεύει σε {n} δέματα", "parcel": "Δέμα {i} από {n}",
           "this": "αυτή η σελίδα", "state": "Η παραγγελία σας: παραδόθηκαν {d} από {n} δέματα"},
}

# Events whose carrier text a customer may want to read, folded away behind "the carrier's own words": what
# they read first is the step and its detail in their language (tracker/wording/details.py).
CARRIER_WORDS_SHOWN = {"exception", "failed_attempt", "available_for_pickup", "unknown"}

# Progress bar position by status (0 label created, 1 shipped, 2 out for delivery / pickup, 3 delivered).
STEP = {"pending": -1, "info_received": 0, "in_transit": 1, "exception": 1, "failed_attempt": 2, "expired": 1,
        "out_for_delivery": 2, "available_for_pickup": 2, "delivered": 3, NOT_TRACKABLE: 1}
PROBLEM = {"exception", "failed_attempt", "expired"}
PICKUP = {"available_for_pickup", "failed_attempt"}  # the parcel may wait at a pickup point


def pick_locale(tag: str | None) -> str:
    tag = (tag or "en").replace("_", "-")
    if tag in STRINGS:
        return tag
    lang = tag.split("-")[0].lower()
    for known in STRINGS:
        if known.split("-")[0] == lang:
            return known
    return "en"


def babel_locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def render_page(template: str, **ctx) -> str:
    return TEMPLATES.get_template(template).render(**ctx)


async def tracking_page(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    token = request.match_info["token"]
    shop = daemon.settings.shop
    headers = page_headers(shop)
    row = None
    if TOKEN.match(token):
        async with sessionmaker(daemon.engine)() as session:
            row = (await session.execute(select(Shipment, Order).join(Order, Order.id == Shipment.order_id)
                                         .where(Shipment.public_token == token))).first()
            if row is not None:
                events = list((await session.execute(
                    select(TrackingEventRow).where(TrackingEventRow.shipment_id == row[0].id)
                    .order_by(TrackingEventRow.occurred_at.desc(), TrackingEventRow.id.desc()))).scalars())
                siblings = list((await session.execute(
                    select(Shipment).where(Shipment.order_id == row[1].id, Shipment.stopped_at.is_(None)
                                           | (Shipment.id == row[0].id)).order_by(Shipment.id))).scalars())
    if row is None:
        lang = pick_locale(request.query.get("lang"))
        html = render_page("not_found.html.j2", lang=lang, t=STRINGS[lang], shop=shop.name, colors=shop.colors,
                           **reach_the_shop(shop, lang))
        return web.Response(text=html, status=404, content_type="text/html", headers=headers)
    ship, order = row
    lang = pick_locale(request.query.get("lang") or order.locale)
    t = STRINGS[lang]
    loc = babel_locale(lang)
    tz = ZoneInfo(order.timezone or daemon.settings.shop.timezone)

    def when(dt: datetime) -> str:
        return format_datetime(dt.astimezone(tz), TIME_PATTERNS.get(loc.language, TIME_PATTERNS["en"]), locale=loc)

    carrier_name = ship.carrier_name or ("" if ship.carrier == UNKNOWN_CARRIER
                                         else daemon.carrier_names().get(ship.carrier, ship.carrier))
    status_label = t.get(ship.status, t["unknown"])
    follow_url = None
    if ship.status == NOT_TRACKABLE:  # nobody tracks it here: it shipped, and the shop's link (if any) follows it
        status_label = t["shipped_with"].format(carrier=carrier_name) if carrier_name else t["not_trackable"]
        follow_url = ship.tracking_url
        t = {**t, "no_events": t["untracked_link"] if follow_url else t["untracked"]}
    from tracker.preferences import page_query

    prefs = f"/p/{ship.public_token}?" + page_query(daemon.link_secret, ship.public_token, daemon.clock.now(),
                                                    daemon.settings.preferences.link_days)
    html = render_page(
        "customer.html.j2", lang=lang, t=t, shop=shop.name, order_number=order.number,
        logo_url=shop.logo_url, colors=shop.colors, **reach_the_shop(shop, order.locale),
        status=ship.status, status_label=status_label, problem=ship.status in PROBLEM, follow_url=follow_url,
        stopped=ship.stopped_at is not None,
        steps=[t["step_ordered"], t["step_shipped"],
               t["available_for_pickup"] if ship.pickup_location and ship.status in PICKUP else t["step_out"],
               t["step_delivered"]],
        step=STEP.get(ship.status, -1),
        expected=localized_date(ship.expected_delivery, lang)
        if ship.expected_delivery and ship.status not in PICKUP | {"delivered"} else None,
        **act_context(ship, lang, t, carrier_name, daemon.clock.now().astimezone(tz).date()),
        reported=request.query.get("reported") == "1",
        delivered_on=when(ship.delivered_at) if ship.delivered_at else None,
        tracking_token=ship.public_token,
        carrier=carrier_name, tracking_number=ship.tracking_number if has_number(ship.tracking_number) else "",
        preferences_url=prefs,
        events=[{"iso": e.occurred_at.isoformat(), "when": when(e.occurred_at), "label": t.get(e.status, t["unknown"]),
                 "detail": detail_of(ship, e, lang), "text": e.raw_text if e.status in CARRIER_WORDS_SHOWN else "",
                 "location": e.location} for e in events],
        detail=current_detail(ship, events, lang),
        **parcels_context(siblings, ship, lang, t, loc, tz),
    )
    return web.Response(text=html, content_type="text/html", headers=headers)


def detail_of(ship: Shipment, event: TrackingEventRow, lang: str) -> details.Detail | None:
    return details.detail(details.kind_of((ship.source or ship.carrier, ship.carrier), event.raw_code, event.raw_text,
                                          event.status), lang)


def current_detail(ship: Shipment, events: list[TrackingEventRow], lang: str) -> details.Detail | None:
    """The detail of the step the parcel is at: its newest event of that status (events come newest first)."""
    latest = next((e for e in events if e.status == ship.status), None)
    return detail_of(ship, latest, lang) if latest else None


def act_context(ship: Shipment, lang: str, t: dict, carrier: str, today) -> dict:
    """What the customer can do now: after a failed attempt, the next attempt and the carrier's rescheduling page;
    at a pickup point, the deadline first, the place, its address and a map; once delivered, who signed."""
    out: dict = {"next_attempt": None, "reschedule_url": None, "no_reschedule": None, "pickup_place": None,
                 "pickup_address": None, "pickup_until": None, "map_url": None, "signed_by": None,
                 "report_kinds": None}
    if ship.status == "failed_attempt" and not ship.pickup_location:
        if ship.expected_delivery and ship.expected_delivery >= today:
            out["next_attempt"] = localized_date(ship.expected_delivery, lang)
        out["reschedule_url"] = details.reschedule_url(ship.carrier, ship.tracking_number) or \
            getattr(ship, "tracking_url", None)
        if not out["reschedule_url"]:
            out["no_reschedule"] = t["no_reschedule"].format(carrier=carrier)
    if ship.pickup_location and ship.status in PICKUP:
        name, _, rest = ship.pickup_location.partition(",")
        out.update(pickup_place=name.strip(), pickup_address=rest.strip() or None,
                   pickup_until=localized_date(ship.pickup_until, lang) if ship.pickup_until else None,
                   map_url=details.map_url(ship.pickup_location))
    if ship.status == "delivered":
        out["signed_by"] = ship.signed_by
        out["report_kinds"] = [(k, t[f"k_{k}"]) for k in problems.KINDS]
    return out


async def report(request: web.Request) -> web.Response:
    """POST /t/<token>/problem from the delivered page: a support case, then back to the page."""
    daemon = request.app[DAEMON]
    token = request.match_info["token"]
    form = await request.post()
    row = None
    if TOKEN.match(token):
        async with sessionmaker(daemon.engine)() as session:
            row = (await session.execute(select(Shipment, Order).join(Order, Order.id == Shipment.order_id)
                                         .where(Shipment.public_token == token))).first()
    if row is None:
        raise web.HTTPNotFound(text="This tracking link is not valid.")
    try:
        await problems.report_problem(daemon.engine, order_id=row[1].id, shipment_id=row[0].id,
                                      tracking_number=row[0].tracking_number, kind=str(form.get("kind", "")),
                                      message=str(form.get("message", "")), now=daemon.clock.now())
    except problems.BadReport as exc:
        raise web.HTTPBadRequest(text=f"{exc}; choose one of the listed answers and send the form again") from None
    raise web.HTTPSeeOther(f"/t/{token}?reported=1#report")


def page_headers(shop) -> dict[str, str]:
    """A customer page: never cached, indexed, framed or sent as a referrer; no script; the logo the one image."""
    return {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex",
            "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
                                       "form-action 'self'"
                                       + (f"; img-src {origin(shop.logo_url)}" if shop.logo_url else "")}


def parcels_context(siblings: list[Shipment], ship: Shipment, lang: str, t: dict, loc: Locale, tz: ZoneInfo) -> dict:
    """This parcel's name ("Parcel 1 of 2") and every parcel of the order, for an order with several."""
    if len(siblings) < 2:
        return {"parcel_title": None, "parcels": [], "parcels_title": None, "order_state": None}
    p, n = PARCEL_STRINGS[lang], len(siblings)
    rows = []
    for i, s in enumerate(siblings, 1):
        date = (format_date(s.delivered_at.astimezone(tz).date(), "long", locale=loc) if s.delivered_at else
                f'{t["expected"]}: {localized_date(s.expected_delivery, lang)}' if s.expected_delivery
                else "")
        rows.append({"name": p["parcel"].format(i=i, n=n), "status": s.status, "label": t.get(s.status, t["unknown"]),
                     "date": date, "href": None if s.id == ship.id else f"/t/{s.public_token}", "this": p["this"]})
    done = sum(s.status == "delivered" for s in siblings)
    return {"parcel_title": rows[[s.id for s in siblings].index(ship.id)]["name"], "parcels": rows,
            "parcels_title": p["parcels"].format(n=n), "order_state": p["state"].format(d=done, n=n)}


def reach_the_shop(shop, locale: str | None) -> dict:
    """The support contact of the customer's language, and its phone as a tel: link takes it."""
    contact = shop.contact(locale)
    return {"contact": contact, "contact_tel": re.sub(r"[^\d+]", "", contact.phone)}


def origin(url: str) -> str:
    """'https://cdn.shop.example/img/logo.png' -> 'https://cdn.shop.example': the one image source allowed."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def setup(app: web.Application) -> None:
    app.router.add_get("/t/{token}", tracking_page)
    app.router.add_post("/t/{token}/problem", report)
