"""The customer's own choices, without a login: the preferences form and one-click unsubscribe.

    GET  /p/<shipment token>?x=<expiry>&s=<sig>    the form: channels, language, opt out / back in
    POST /p/<shipment token>                       save it (x and s travel in the form)
    GET  /u/<shipment token>/<channel>?x=&s=       a page with one button (a GET never unsubscribes)
    POST /u/<shipment token>/<channel>?x=&s=       RFC 8058 one-click unsubscribe (body List-Unsubscribe=One-Click)

Links are signed and expire (tracker/preferences.py): a forged, altered or expired one gets 403 and
changes nothing. Unticking a channel that was on opts the customer's address out of it (like STOP or an
unsubscribe, for every order of theirs); ticking it again opts back in. A channel the order never used
stays merely unchosen (it still carries fallbacks). Every change is recorded for support.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import delete, select

from tracker import fallback, preferences, redact
from tracker.db import insert_ignore, sessionmaker
from tracker.models import Order, Shipment, Suppression
from tracker.web.common import DAEMON
from tracker.web.customer import pick_locale, render_page

log = logging.getLogger("tracker.web.preferences")

CHANNEL_ORDER = ("whatsapp", "sms", "email")
HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex",
           "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                      "frame-ancestors 'none'"}
LANGUAGE_NAMES = {"en": "English", "pt-BR": "Português (Brasil)", "es": "Español", "el": "Ελληνικά"}
LABEL = {"whatsapp": "WhatsApp", "sms": "SMS", "email": "email"}

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your messages", "order": "Order", "intro": "Choose how we keep you informed about this order.",
        "channels": "Send me updates by", "language": "Language", "save": "Save my choices",
        "saved": "Your choices are saved.", "none_left": "You will not receive any more messages about this order.",
        "off_note": "Unticking a channel stops all our messages to you on it; tick it again to receive them again.",
        "whatsapp": "WhatsApp", "sms": "SMS (text message)", "email": "Email",
        "forbidden": "This link is not valid or has expired. Please open the tracking page from one of our "
                     "messages and use the link there.",
        "unsub_title": "Unsubscribe", "unsub_ask": "Stop all emails from us about your orders?",
        "unsub_button": "Unsubscribe", "unsub_done": "Done: you will not receive any more emails from us.",
        "locked_start": "You replied STOP to our text messages: reply START to receive them again.",
        "locked_shop": "Our messages to this address could not be delivered or were reported as unwanted; "
                       "to receive them again, contact us.",
        "manage": "Change your choices",
    },
    "pt-BR": {
        "title": "Suas mensagens", "order": "Pedido",
        "intro": "Escolha como devemos manter você informado sobre este pedido.",
        "channels": "Quero receber as novidades por", "language": "Idioma", "save": "Salvar minhas escolhas",
        "saved": "Suas escolhas foram salvas.", "none_left": "Você não receberá mais mensagens sobre este pedido.",
        "off_note": "Ao desmarcar um canal, você deixa de receber todas as nossas mensagens por ele; marque-o de "
                    "novo para voltar a recebê-las.",
        "whatsapp": "WhatsApp", "sms": "SMS (mensagem de texto)", "email": "E-mail",
        "forbidden": "Este link não é válido ou expirou. Abra a página de rastreamento a partir de uma das nossas "
                     "mensagens e use o link que está lá.",
        "unsub_title": "Cancelar inscrição", "unsub_ask": "Parar de receber nossos e-mails sobre seus pedidos?",
        "unsub_button": "Cancelar inscrição", "unsub_done": "Pronto: você não receberá mais e-mails nossos.",
        "locked_start": "Você respondeu STOP às nossas mensagens SMS: responda START para voltar a recebê-las.",
        "locked_shop": "Nossas mensagens para este endereço não puderam ser entregues ou foram marcadas como "
                       "indesejadas; para voltar a recebê-las, fale conosco.",
        "manage": "Alterar suas escolhas",
    },
    "es": {
        "title": "Tus mensajes", "order": "Pedido", "intro": "Elige cómo te mantenemos informado sobre este pedido.",
        "channels": "Quiero recibir las novedades por", "language": "Idioma", "save": "Guardar mis preferencias",
        "saved": "Tus preferencias están guardadas.",
        "none_left": "No recibirás más mensajes sobre este pedido.",
        "off_note": "Si desmarcas un canal, dejarás de recibir todos nuestros mensajes por él; vuelve a marcarlo "
                    "para recibirlos de nuevo.",
        "whatsapp": "WhatsApp", "sms": "SMS (mensaje de texto)", "email": "Correo electrónico",
        "forbidden": "Este enlace no es válido o ha caducado. Abre la página de seguimiento desde uno de nuestros "
                     "mensajes y usa el enlace que encontrarás allí.",
        "unsub_title": "Darse de baja", "unsub_ask": "¿Dejar de recibir nuestros correos sobre tus pedidos?",
        "unsub_button": "Darme de baja", "unsub_done": "Hecho: no recibirás más correos nuestros.",
        "locked_start": "Respondiste STOP a nuestros SMS: responde START para volver a recibirlos.",
        "locked_shop": "Nuestros mensajes a esta dirección no se pudieron entregar o se marcaron como no deseados; "
                       "para volver a recibirlos, contáctanos.",
        "manage": "Cambiar tus preferencias",
    },
    "el": {
        "title": "Τα μηνύματά σας", "order": "Παραγγελία",
        "intro": "Επιλέξτε πώς θα σας ενημερώνουμε για αυτή την παραγγελία.",
        "channels": "Θέλω ενημερώσεις μέσω", "language": "Γλώσσα", "save": "Αποθήκευση επιλογών",
        "saved": "Οι επιλογές σας αποθηκεύτηκαν.",
        "none_left": "Δεν θα λαμβάνετε πλέον μηνύματα για αυτή την παραγγελία.",
        "off_note": "Αν καταργήσετε την επιλογή ενός καναλιού, σταματούν όλα τα μηνύματά μας σε αυτό· "
                    "επιλέξτε το ξανά για να τα λαμβάνετε πάλι.",
        "whatsapp": "WhatsApp", "sms": "SMS (γραπτό μήνυμα)", "email": "Email",
        "forbidden": "Αυτός ο σύνδεσμος δεν είναι έγκυρος ή έχει λήξει. Ανοίξτε τη σελίδα παρακολούθησης από ένα "
                     "από τα μηνύματά μας και χρησιμοποιήστε τον σύνδεσμο που θα βρείτε εκεί.",
        "unsub_title": "Διαγραφή", "unsub_ask": "Να σταματήσουν όλα τα email μας για τις παραγγελίες σας;",
        "unsub_button": "Διαγραφή", "unsub_done": "Έγινε: δεν θα λαμβάνετε πλέον email από εμάς.",
        "locked_start": "Απαντήσατε STOP στα SMS μας: απαντήστε START για να τα λαμβάνετε ξανά.",
        "locked_shop": "Τα μηνύματά μας σε αυτή τη διεύθυνση δεν παραδόθηκαν ή σημειώθηκαν ως ανεπιθύμητα· "
                       "για να τα λαμβάνετε ξανά, επικοινωνήστε μαζί μας.",
        "manage": "Αλλαγή επιλογών",
    },
}


async def _find(daemon, token: str) -> tuple[Shipment, Order] | None:
    async with sessionmaker(daemon.engine)() as session:
        row = (await session.execute(select(Shipment, Order).join(Order, Order.id == Shipment.order_id)
                                     .where(Shipment.public_token == token))).first()
    return (row[0], row[1]) if row else None


def _page(template: str, status: int = 200, **ctx) -> web.Response:
    return web.Response(text=render_page(template, **ctx), status=status, content_type="text/html", headers=HEADERS)


def _forbidden(daemon, lang: str) -> web.Response:
    t = STRINGS[pick_locale(lang)]
    return _page("preferences.html.j2", 403, lang=pick_locale(lang), t=t, shop=daemon.settings.shop.name,
                 forbidden=True)


def offered(daemon, order: Order) -> list[str]:
    """Channels the customer can choose: those this shop sends and the order has an address for."""
    able = getattr(daemon, "channels", {}) or {}
    return [c for c in CHANNEL_ORDER if c in able and fallback.address(order, c)]


async def _suppressed(session, order: Order) -> dict[str, str]:
    """channel -> why the order's address on it is suppressed."""
    addresses = [a for a in (order.email, order.phone) if a]
    rows = (await session.execute(select(Suppression.channel, Suppression.address, Suppression.reason)
                                  .where(Suppression.address.in_(addresses)))).all() if addresses else []
    return {c: r for c, a, r in rows if a == fallback.address(order, c)}


def _locked(off: dict[str, str]) -> dict[str, str]:
    """Suppressed channels the form cannot lift -> the note's key (STOP replied, or the provider's refusal)."""
    return {c: f"locked_{preferences.lifted_by(c, r)}" for c, r in off.items() if not preferences.liftable(c, r)}


async def preferences_form(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    token, x, s = request.match_info["token"], request.query.get("x", ""), request.query.get("s", "")
    found = await _find(daemon, token)
    if found is None or not preferences.verify(daemon.link_secret, s, x, daemon.clock.now(), "prefs", token):
        return _forbidden(daemon, request.query.get("lang", ""))
    _, order = found
    async with sessionmaker(daemon.engine)() as session:
        off = await _suppressed(session, order)
    lang = pick_locale(order.locale)
    locked = _locked(off)
    choices = [dict(channel=c, label=STRINGS[lang][c], on=c in order.channel_list and c not in off,
                    locked=STRINGS[lang][locked[c]] if c in locked else None)
               for c in offered(daemon, order)]
    return _page("preferences.html.j2", lang=lang, t=STRINGS[lang], shop=daemon.settings.shop.name,
                 order_number=order.number, choices=choices, languages=LANGUAGE_NAMES, current=order.locale,
                 x=x, s=s, token=token, saved=request.query.get("saved") == "1",
                 none_left=not any(c["on"] for c in choices))


async def save_preferences(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    token = request.match_info["token"]
    form = await request.post()
    x, s = str(form.get("x", "")), str(form.get("s", ""))
    found = await _find(daemon, token)
    now = daemon.clock.now()
    if found is None or not preferences.verify(daemon.link_secret, s, x, now, "prefs", token):
        log.warning("refused a preferences change with a bad or expired link")
        return _forbidden(daemon, "")
    _, order = found
    language = str(form.get("language", order.locale))
    if language not in preferences.LANGUAGES:
        return web.Response(status=400, text=f"language: {language!r} is not offered. "
                                             f"Fix: choose one of {', '.join(preferences.LANGUAGES)}.")
    wanted = {str(c) for c in form.getall("channel", [])}
    async with sessionmaker(daemon.engine)() as session, session.begin():
        order = await session.get(Order, order.id)
        off = await _suppressed(session, order)
        locked = _locked(off)
        wanted = (wanted - set(locked)) | (set(locked) & set(order.channel_list))  # as they were
        changes = []
        for c in offered(daemon, order):
            address = fallback.address(order, c)
            if c in locked:
                continue  # a bounce, a spam report, an SMS STOP: not the form's to lift
            if c in wanted and c in off:
                await session.execute(delete(Suppression).where(Suppression.channel == c,
                                                                Suppression.address == address))
                changes.append(f"opted back in to {LABEL[c]}")
            elif c not in wanted and c in order.channel_list and c not in off:  # was on: now off
                await session.execute(insert_ignore(daemon.engine, Suppression.__table__, [dict(
                    channel=c, address=address, reason="preferences page", created_at=now)], ["channel", "address"]))
                changes.append(f"opted out of {LABEL[c]}")
        kept = [c for c in order.channel_list if c not in offered(daemon, order)]  # not choosable here: untouched
        channels = ",".join([c for c in CHANNEL_ORDER if c in wanted and c in offered(daemon, order)] + kept)
        if channels != order.channels:
            changes.append(f"channels {order.channels or '-'} -> {channels or '-'}")
            order.channels = channels
        if language != order.locale:
            changes.append(f"language {order.locale} -> {language}")
            order.locale = language
        if changes:
            await preferences.record(session, [order.id], "preferences page", "; ".join(changes), now)
    if changes:
        log.info("order %s: the customer changed their preferences (%s)", order.number, "; ".join(changes))
    raise web.HTTPSeeOther(f"/p/{token}?" + urlencode({"x": x, "s": s, "saved": "1"}))


async def unsubscribe(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON]
    token, channel = request.match_info["token"], request.match_info["channel"]
    x, s = request.query.get("x", ""), request.query.get("s", "")
    found = await _find(daemon, token)
    now = daemon.clock.now()
    if found is None or channel not in CHANNEL_ORDER or not preferences.verify(
            daemon.link_secret, s, x, now, "unsub", token, channel):
        if request.method == "POST":
            log.warning("refused a one-click unsubscribe with a bad or expired link")
        return _forbidden(daemon, "")
    _, order = found
    lang = pick_locale(order.locale)
    t = STRINGS[lang]
    manage = f"/p/{token}?{preferences.page_query(daemon.link_secret, token, now, daemon.settings.preferences.link_days)}"
    ctx = dict(lang=lang, t=t, shop=daemon.settings.shop.name, order_number=order.number, unsubscribe=True,
               manage=manage)
    if request.method != "POST":  # mail scanners open links: only the button (a POST) unsubscribes
        return _page("preferences.html.j2", **ctx, ask=True, action=request.rel_url.path_qs)
    address = fallback.address(order, channel)
    if address:
        async with sessionmaker(daemon.engine)() as session, session.begin():
            result = await session.execute(insert_ignore(daemon.engine, Suppression.__table__, [dict(
                channel=channel, address=address, reason="one-click unsubscribe", created_at=now)],
                ["channel", "address"]))
            if result.rowcount:
                await preferences.record(session, [order.id], "unsubscribe link", f"opted out of {LABEL[channel]}",
                                         now)
        log.info("%s unsubscribed from %s", redact.address(channel, address), channel)
    return _page("preferences.html.j2", **ctx, done=True)


def setup(app: web.Application) -> None:
    app.router.add_get("/p/{token}", preferences_form)
    app.router.add_post("/p/{token}", save_preferences)
    app.router.add_route("GET", "/u/{token}/{channel}", unsubscribe)
    app.router.add_route("POST", "/u/{token}/{channel}", unsubscribe)
