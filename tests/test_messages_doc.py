"""docs/messages.md: every message a customer can get, in every language, as the real renderer writes it
and as the SMS actually goes out (the budget of its language, the short form when needed). The test
regenerates the page: when the committed file differs it is rewritten and the test fails, so the page
on review is always the one the code produces. The same texts are checked here for what a native
reader would catch: no accent taken off in es/pt-BR, no essential lost in any SMS (Greek included)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.test_templates import TEMPLATE_NAMES, essentials
from tracker.config import SmsSettings
from tracker.follow_up import rating_links
from tracker.notify import segments
from tracker.notify.render import Renderer
from tracker.wording import details

DOC = Path(__file__).resolve().parents[1] / "docs" / "messages.md"
TOKEN = "Xq3vT9bLk2PzR8mWc5NyHd7JfA4sGe6U"

# One realistic shop per market, so the page reads like what customers there get.
SHOPS = {
    "en": {"shop_name": "Northwind Goods", "support_email": "help@northwind.example", "support_phone": "+1 415 555 0100",
           "order_number": "NW-10482", "carrier_name": "UPS", "tracking_number": "1Z999AA10123456784",
           "base": "https://northwind.example", "pickup_location": "The UPS Store, 1250 Market St, San Francisco",
           "signed_by": "J. MILLER"},
    "pt-BR": {"shop_name": "Papelaria Aurora", "support_email": "suporte@papelaria-aurora.example",
              "support_phone": "+55 11 3000-0000", "order_number": "PA-000123", "carrier_name": "Jadlog",
              "tracking_number": "10084599000123", "base": "https://rastreio.papelaria-aurora.example",
              "pickup_location": "Agência Jadlog Vila Mariana, Rua Domingos de Morais 1500, São Paulo",
              "signed_by": "MARIA DA SILVA"},
    "es": {"shop_name": "Tienda Olivo", "support_email": "hola@tiendaolivo.example", "support_phone": "+34 910 000 000",
           "order_number": "TO-58213", "carrier_name": "Correos", "tracking_number": "PQ4F6P0702345670128001X",
           "base": "https://tiendaolivo.example", "pickup_location": "Oficina de Correos, Calle de Alcalá 45, Madrid",
           "signed_by": "LUCÍA GÓMEZ"},
    "el": {"shop_name": "Βιβλιοπωλείο Ηώς", "support_email": "info@eos-books.example", "support_phone": "+30 210 000 0000",
           "order_number": "EO-7731", "carrier_name": "ACS Courier", "tracking_number": "7401234567",
           "base": "https://eos-books.example", "pickup_location": "ACS Σύνταγμα, Φιλελλήνων 10, Αθήνα",
           "signed_by": "Μ. ΠΑΠΑΔΟΠΟΥΛΟΥ"},
}
LOCALES = list(SHOPS)
VARIANTS = {
    "with every detail": {},
    "without dates, pickup point or detail": {"expected_delivery": None, "pickup_until": None, "signed_by": None,
                                              "pickup_location": None, "detail_kind": None},
    "customer must act (customs documents), no pickup point": {"pickup_location": None, "pickup_until": None,
                                                               "detail_kind": "customs_documents"},
}

# Words as they read with their accents stripped: what SMS used to say to fit GSM-7 ("esta" alone and
# "intento" alone are words too, so only their stripped uses are listed).
STRIPPED = {
    "pt-BR": r"voce|nao|previsao|terca|sabado|codigo|duvidas|opcoes|numero|entao|proximo|ja|ate|esta a|esta pronto|"
             r"noticia|informacao|atencao|endereco|agencia|sao|util|voces|tambem",
    "es": r"intento entregar|esta en|esta listo|esta hoy|llegara|dia|tambien|envio|numero|miercoles|sabado|aqui|podras|recogelo|siguelo|"
          r"aun|mas tarde|informacion|direccion|transito|segun|alcala|lucia|gomez|habra|estan",
}


def sample(locale: str, **over) -> dict:
    shop = dict(SHOPS[locale])
    base = shop.pop("base")
    ctx = dict(shop, tracking_url=f"{base}/t/{TOKEN}", expected_delivery=date(2026, 1, 7),
               pickup_until=date(2026, 1, 13), location="", locale_tag=locale,
               rating_links=rating_links(SimpleNamespace(server=SimpleNamespace(public_url=base),
                                                         follow_up=SimpleNamespace(secret="docs-signing-secret")),
                                         SimpleNamespace(public_token=TOKEN)))
    ctx["detail_kind"] = "nobody_home"
    ctx.update(over)
    ctx.update(details.template_context(ctx["detail_kind"], locale))  # what the dispatcher adds
    return ctx


def sent_sms(out, locale: str) -> str:
    return segments.pick([out.sms, out.sms_short], SmsSettings().budget(locale))


def rendered_all():
    r = Renderer()
    for locale in LOCALES:
        for name in TEMPLATE_NAMES:
            for variant, over in VARIANTS.items():
                ctx = sample(locale, **over)
                out = r.render(name, locale, ctx)
                yield locale, name, variant, ctx, out, sent_sms(out, locale)


def build() -> str:
    lines = ["# Every message, in every language",
             "",
             "Generated by `tests/test_messages_doc.py` from the real templates and renderer (run the test to",
             "refresh it; it fails while this file is out of date). Each SMS is shown as it goes out: its",
             "encoding, length and segments against its language's budget (`sms.max_segments_by_locale`), and",
             "whether the full text or the short form (`sms_short`: order, step, date, pickup place and",
             "deadline, link) was sent. Dates are the 7th (expected) and 13th (pickup deadline) of January 2026.",
             "The carrier's event is \"nobody home\" (detail kind `nobody_home`) unless the variant says otherwise;",
             "every kind in every language is in tracker/wording/detail_texts.yaml. A problem SMS always apologises",
             "and names the shop's support phone (else its email); its short form gives the pickup deadline as",
             "a short date and leaves the pickup place to the page it links. `bench/sms_cost.py` prints the",
             "segments of every template in every language.",
             ""]
    for locale in LOCALES:
        lines += [f"- [{locale}](#{locale.lower()})"]
    lines.append("")
    current = None
    for locale, name, variant, _ctx, out, sms in rendered_all():
        if locale != current:
            current = locale
            lines += [f"## {locale}", ""]
        info = segments.info(sms)
        budget = SmsSettings().budget(locale)
        form = "full text" if sms == out.sms else "short form"
        over = "" if info.segments <= budget else ", over the budget: the essentials are never cut"
        lines += [f"### {locale} · {name} · {variant}", "",
                  f"**Subject:** {out.subject}", "",
                  f"**SMS** ({form}; {info.encoding}, {info.units} units, {info.segments} of {budget} segments{over}):",
                  "", "```text", sms, "```", "",
                  "**Email text:**", "", "```text", out.text, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def test_docs_messages_md_is_what_the_renderer_writes():
    text = build()
    old = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if old != text:
        DOC.write_text(text, encoding="utf-8")
        pytest.fail("docs/messages.md was out of date; it has been rewritten: review and commit it")


@pytest.mark.parametrize("locale", ["pt-BR", "es"])
def test_no_accent_is_taken_off_in_spanish_and_portuguese(locale):
    stripped = re.compile(rf"\b({STRIPPED[locale]})\b", re.IGNORECASE)
    for loc, name, variant, _ctx, out, sms in rendered_all():
        if loc != locale:
            continue
        assert sms in (out.sms, out.sms_short)  # sent as the template wrote it, not transliterated
        for part in (out.subject, sms, out.text):
            found = stripped.findall(part)
            assert not found, (locale, name, variant, found, part)


def test_every_sms_keeps_its_essentials_in_every_language_greek_included():
    for locale, name, variant, ctx, out, sms in rendered_all():
        for forms in essentials(name, locale, ctx):
            assert any(f in sms for f in forms), (locale, name, variant, forms, sms)
        link = ctx["rating_links"][0]["url"] if name == "follow_up" else ctx["tracking_url"]
        assert link in sms or name == "delivered", (locale, name, variant, sms)
        if locale == "el":
            assert "…" not in sms and "..." not in sms  # nothing cut
        if name == "shipped" and ctx["expected_delivery"]:
            assert any(ch.isdigit() for ch in sms.replace(ctx["order_number"], "").replace(link, ""))
