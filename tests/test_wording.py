"""The customer reads their own language only (issue 23): carrier events become localized detail kinds
(tracker/wording/), every template renders in every language with every kind without an English word
inside pt-BR, es or el text, the carrier's raw words never reach the customer, problem messages (SMS
too) apologise and name the support contact, and Greek dates take the article of their weekday."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.test_messages_doc import LOCALES, sample
from tracker.config import SmsSettings
from tracker.notify import segments
from tracker.notify.render import TEMPLATES, Renderer, greek_article
from tracker.wording import details

KINDS = sorted(details.texts())
NAMES = sorted(p.name.removesuffix(".txt.j2") for p in (TEMPLATES / "en").glob("*.txt.j2"))
PARCELS = {"parcel_index": 1, "parcel_count": 2, "parcels_delivered": 1, "parcels_remaining": 1,
           "window_from": "14:00", "window_to": "16:00", "later_than_promised": True}
RAW = "Delivery attempted, nobody home"
# Words an English template leaves behind; none of them is a word of Portuguese, Spanish or Greek.
ENGLISH = {"the", "and", "your", "order", "parcel", "parcels", "package", "delivery", "delivered", "carrier", "nobody",
           "home", "please", "sorry", "help", "pickup", "ready", "track", "tracking", "attempt", "failed", "questions",
           "write", "here", "today", "will", "you", "we", "is", "was", "its", "way", "with", "from", "until", "by",
           "details", "what", "happened", "next", "customs", "duties", "address", "refused", "damaged", "weather",
           "returned", "sender", "held", "documents", "required", "attempted", "of", "to", "it", "has", "been"}
PROBLEMS = {"failed_attempt", "exception", "delayed", "silent", "preparing", "parcel_failed_attempt",
            "parcel_exception", "parcel_delayed", "parcel_silent"}
APOLOGY = {"en": r"\bsorry\b", "pt-BR": r"\bdesculpe\b", "es": r"\blo sentimos\b|\bperdona\b",
           "el": r"λυπούμαστε|συγγνώμη"}


def contexts(locale: str):
    for kind in [None, *KINDS]:
        for pickup in (True, False):
            over = {} if pickup else {"pickup_location": None, "pickup_until": None}
            ctx = {**PARCELS, **sample(locale, detail_kind=kind, event_text=RAW, **over)}
            yield kind, pickup, ctx


def words_of(text: str, ctx: dict) -> set[str]:
    for known in (ctx["tracking_url"], ctx["support_email"], ctx["shop_name"], ctx["carrier_name"],
                  ctx["pickup_location"] or "", ctx["signed_by"] or "", ctx["tracking_number"], ctx["order_number"]):
        if known:
            text = text.replace(known, " ")
    text = re.sub(r"https?://\S+|\S+@\S+|<[^>]+>", " ", text)
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)}


def test_every_kind_is_written_in_every_language_and_says_what_to_do_when_the_customer_must_act():
    for kind, entry in details.texts().items():
        for locale in LOCALES:
            d = details.detail(kind, locale)
            assert d is not None, (kind, locale)
            assert d.what and d.what[0].islower() and not d.what.endswith("."), (kind, locale, d.what)
            assert d.next.endswith("."), (kind, locale)
            assert bool(d.todo) == bool(entry["act"]), (kind, locale)


def test_the_table_maps_aggregator_sub_statuses_codes_and_common_phrases():
    assert details.kind_of(("seventeentrack", "dhl"), "InTransit_CustomsRequiringInformation", "",
                           "exception") == "customs_documents"
    assert details.kind_of(("aftership", "ups"), "Exception_006", "whatever", "exception") == "duties"
    assert details.kind_of(("sandbox", "sandbox"), "FA", RAW, "failed_attempt") == "nobody_home"
    assert details.kind_of(("ups", "ups"), "X", "Held at customs: documents required", "exception") == \
        "customs_documents"
    assert details.kind_of(("correios", "correios"), "BDE-01", "Destinatário ausente", "failed_attempt") == \
        "nobody_home"
    assert details.kind_of(("ups", "ups"), "X", "Something the table never saw", "exception") is None
    assert details.kind_of(("ups", "ups"), "X", "Delivery attempted, nobody home", "in_transit") is None
    # a kind every language lacks reads as the step alone, never another language
    assert details.detail("no_such_kind", "el") is None and details.detail("nobody_home", "fr") is None


def test_an_unmapped_problem_phrase_is_counted_for_support():
    rows = [{"sources": ("ups", "ups"), "raw_code": "X", "raw_text": "Mysterious hold", "status": "exception"},
            {"sources": ("ups", "ups"), "raw_code": "X", "raw_text": RAW, "status": "failed_attempt"},
            {"sources": ("ups", "ups"), "raw_code": "X", "raw_text": "Mysterious hold", "status": "in_transit"}]
    assert details.unmapped(rows) == [("ups", details.phrase_code("Mysterious hold"), "Mysterious hold")]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_template_with_every_kind_reads_in_the_customers_language_only(locale):
    r = Renderer()
    budget = SmsSettings().budget(locale)
    for name in NAMES:
        for kind, pickup, ctx in contexts(locale):
            ctx.update(details.template_context(kind, locale))
            out = r.render(name, locale, ctx)
            sent = segments.pick([out.sms, out.sms_short], budget)
            parts = {"subject": out.subject, "sms": out.sms, "sms_short": out.sms_short or "", "text": out.text,
                     "html": out.html}
            for part, text in parts.items():
                assert RAW not in text, (name, locale, kind, part)
                assert "την Σάββατο" not in text and "τη Σάββατο" not in text, (name, kind, part)
                if locale != "en":
                    english = words_of(text, ctx) & ENGLISH
                    assert not english, (name, locale, kind, part, english, text)
            if name in PROBLEMS:
                assert re.search(APOLOGY[locale], sent, re.I), (name, locale, kind, sent)
                assert ctx["support_phone"] in sent, (name, locale, kind, sent)
            info = segments.info(sent)
            assert info.segments <= budget, (name, locale, kind, pickup, info, sent)


@pytest.mark.parametrize("locale", LOCALES)
def test_what_the_customer_must_do_is_said_and_never_that_they_need_do_nothing(locale):
    r = Renderer()
    nothing = {"en": "You do not need to do anything", "pt-BR": "Você não precisa fazer nada",
               "es": "No tienes que hacer nada", "el": "Δεν χρειάζεται να κάνετε τίποτα"}[locale]
    for kind in KINDS:
        d = details.detail(kind, locale)
        ctx = {**PARCELS, **sample(locale, pickup_location=None, pickup_until=None),
               **details.template_context(kind, locale)}
        for name in ("exception", "failed_attempt"):
            out = r.render(name, locale, ctx)
            assert d.what in out.text and d.what in out.sms
            if d.act:
                assert d.todo in out.text and d.todo in segments.pick([out.sms, out.sms_short],
                                                                      SmsSettings().budget(locale))
                assert nothing not in out.text, (kind, name)


def test_the_support_alert_says_what_the_customer_was_told():
    assert "must act" in details.told("customs_documents", "el") and "customs" in details.told("customs_documents", "el")
    assert "nothing to do" in details.told("damaged", "pt-BR")
    assert "only that there is a problem" in details.told(None, "es")
    assert "carrier_details.yaml" in details.told(None, "es")


def test_greek_weekdays_take_their_article():
    monday = date(2026, 1, 5)
    days = [Renderer().env.filters["the"] for _ in range(1)]
    assert days
    want = ["τη Δευτέρα", "την Τρίτη", "την Τετάρτη", "την Πέμπτη", "την Παρασκευή", "το Σάββατο", "την Κυριακή"]
    from tracker.notify.render import localized_date
    got = []
    for i in range(7):
        day = localized_date(monday + timedelta(days=i), "el")
        got.append(f"{greek_article(day)} {day.split()[0]}")
    assert got == want
    r = Renderer()
    for i in range(7):  # every Greek template with the date, every weekday
        ctx = sample("el", expected_delivery=monday + timedelta(days=i), pickup_until=monday + timedelta(days=i))
        for name in ("shipped", "date_moved", "delayed", "available_for_pickup"):
            out = r.render(name, "el", {**PARCELS, **ctx})
            for text in (out.sms, out.text):
                assert "την Σάββατο" not in text and "τη Σάββατο" not in text and "την Δευτέρα" not in text


def test_bench_sms_cost_finds_no_template_over_its_languages_budget():
    from bench.sms_cost import rows

    over = [row for row in rows() if row[3] > row[2]]
    assert not over, over  # (template, locale, budget, segments, encoding, form)


def test_times_read_as_each_locale_writes_them():
    from tracker.notify.render import time_range

    assert time_range("14:00", "16:00", "en") == "2–4 PM"
    assert time_range("11:30", "13:00", "en") == "11:30 AM–1 PM"
    assert time_range("14:00", "16:30", "pt-BR") == "das 14h às 16h30"
    assert time_range("09:00", "11:00", "es") == "entre las 9:00 y las 11:00"
    assert time_range("14:00", "16:00", "el") == "μεταξύ 14:00 και 16:00"
    out = Renderer().render("arriving_today", "en", {**PARCELS, **sample("en")})
    assert "arrives today, 2–4 PM" in out.text and "2-4 PM" in out.sms  # the SMS stays GSM-7
    assert segments.info(out.sms).encoding == "GSM-7"


@pytest.mark.parametrize(("locale", "both"), [("en", "both parcels"), ("pt-BR", "ambos os pacotes"),
                                              ("es", "los dos paquetes"), ("el", "και τα δύο δέματα")])
def test_both_parcels_and_the_parcel_not_the_order_is_late(locale, both):
    r = Renderer()
    out = r.render("order_delivered", locale, {**PARCELS, **sample(locale), "parcel_count": 2})
    assert both in out.subject + out.text and "2 " not in out.subject.replace("NW-10482", "")
    assert "3" in r.render("order_delivered", locale, {**PARCELS, **sample(locale), "parcel_count": 3}).subject
    late = r.render("parcel_delayed", locale, {**PARCELS, **sample(locale)}).subject
    assert not re.search(r": [A-ZÁÉÍÓÚ]", late)  # no "Parcel 1 of 2: Your order ..."
    assert re.search(r"(?i)parcel|pacote|paquete|δέμα", late)


def test_config_check_names_a_shop_colour_too_pale_to_read_and_its_fix(tmp_path):
    from tracker.components import colour_warnings, contrast
    from tracker.config import load_settings

    assert round(contrast("#000000", "#ffffff"), 1) == 21.0 and round(contrast("#777777", "#ffffff"), 2) == 4.48
    ok = load_settings(text="shop: {colors: {primary: '#1f6feb'}}\n")
    assert colour_warnings(ok) == []
    pale = load_settings(text="shop: {colors: {primary: '#7fb3ff', on_primary: '#ffffff'}}\n")
    [link, button] = colour_warnings(pale)
    assert link.startswith("shop.colors.primary #7fb3ff") and "below WCAG AA 4.5:1" in link and "Fix: use a darker" in link
    suggested = link.rsplit(" ", 1)[1].rstrip(".")
    assert contrast(suggested, "#ffffff") >= 4.5
    assert button.startswith("shop.colors.on_primary #ffffff") and "Fix: set shop.colors.on_primary to #000000" in button


@pytest.mark.parametrize(("locale", "prefs", "unsub"), [
    ("en", "Choose how we keep you informed", "Unsubscribe from these emails"),
    ("pt-BR", "Escolha como avisamos você", "Cancelar o recebimento destes e-mails"),
    ("es", "Elige cómo te avisamos", "Darte de baja de estos correos"),
    ("el", "Επιλέξτε πώς σας ενημερώνουμε", "Διαγραφή από αυτά τα email")])
def test_emails_make_urls_links_and_show_preferences_and_unsubscribe_in_the_customers_language(locale, prefs, unsub):
    ctx = {**PARCELS, **sample(locale), "preferences_url": "https://shop.example/p/tok?x=1&s=2",
           "unsubscribe_url": "https://shop.example/u/tok/email?x=1&s=3"}
    out = Renderer().render("shipped", locale, ctx)
    assert f'<a href="{ctx["tracking_url"]}">{ctx["tracking_url"]}</a>' in out.html  # in the paragraph itself
    assert f'<a href="https://shop.example/p/tok?x=1&amp;s=2" style="color:#57534e">{prefs}</a>' in out.html
    assert f'<a href="https://shop.example/u/tok/email?x=1&amp;s=3" style="color:#57534e">{unsub}</a>' in out.html
    without = Renderer().render("shipped", locale, {**PARCELS, **sample(locale)})
    assert prefs not in without.html and unsub not in without.html


PARCEL_SUBJECT = {"en": ("parcel 1 of 2 of your order {}", "parcel 1/2 of order {}"),
                  "pt-BR": ("pacote 1 de 2 do seu pedido {}", "pacote 1/2 do pedido {}"),
                  "es": ("paquete 1 de 2 de tu pedido {}", "paquete 1/2 del pedido {}"),
                  "el": ("δέμα 1 από 2 της παραγγελίας σας {}", "δέμα 1/2 της {}")}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", ["parcel_delayed", "parcel_exception", "parcel_failed_attempt",
                                  "parcel_available_for_pickup", "parcel_silent"])
def test_a_parcel_sms_makes_the_parcel_not_the_order_its_subject(locale, name):
    """Issue 23 items 4/7: "parcel 1 of 2 of your order X is late", not "Shop (parcel 1 of 2): order X is late"."""
    for _, _, ctx in contexts(locale):
        out = Renderer().render(name, locale, ctx)
        long, short = (form.format(ctx["order_number"]) for form in PARCEL_SUBJECT[locale])
        assert long in out.sms.replace("δέματος", "δέμα") and " (" not in out.sms.split(":")[0], out.sms
        assert short in out.sms_short, out.sms_short
        if locale == "el":  # the parcel is neuter: no feminine pronoun left over from "η παραγγελία"
            assert not re.search(r"[Ττ]ην παρακολουθούμε|Παραλάβετέ την", out.sms), out.sms


@pytest.mark.parametrize("name", NAMES)
def test_pt_br_names_any_carrier_without_assuming_its_gender(name):
    """"com a Correios" is wrong Portuguese: the carrier is named "via X" or "a transportadora X"."""
    for _, _, ctx in contexts("pt-BR"):
        out = Renderer().render(name, "pt-BR", {**ctx, "carrier_name": "Correios"})
        for text in (out.subject, out.sms, out.sms_short or "", out.text):
            assert not re.search(r"(?i)\b(a|da|na|pela|à) Correios", text), text
