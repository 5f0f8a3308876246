"""Every template in every locale and channel renders without a missing variable, and every SMS stays
within its segment limit with the tracking link whole. The translations carry the English information:
the same variables, the pickup place and deadline, the five rating links of the follow-up email."""

from __future__ import annotations

import re
from datetime import date
from types import SimpleNamespace

import pytest
from jinja2 import StrictUndefined, UndefinedError, meta

from tracker.config import SmsSettings
from tracker.notify import segments
from tracker.notify.render import TEMPLATES, Renderer, localized_date, place_name, short_date
from tracker.status import Milestone
from tracker.wording import details
from tracker.follow_up import LABELS, rating_links

LOCALES = ["en", "pt-BR", "es", "el"]
MILESTONES = [m.value for m in Milestone]
TEMPLATE_NAMES = MILESTONES + ["follow_up"]  # follow_up: the rating email after delivery (not a milestone)
TOKEN = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6"
RATING_LINKS = rating_links(
    SimpleNamespace(server=SimpleNamespace(public_url="https://rastreio.papelaria-aurora.example/"),
                    follow_up=SimpleNamespace(secret="a-long-test-signing-secret")),
    SimpleNamespace(public_token=TOKEN))


def context(**over) -> dict:
    ctx = dict(shop_name="Papelaria Aurora & Filhos", support_email="suporte@papelaria-aurora.example",
               support_phone="+551130000000", order_number="PA-2026-000123", carrier_name="Correios",
               tracking_number="AA123456789BR", tracking_url=f"https://rastreio.papelaria-aurora.example/t/{TOKEN}",
               expected_delivery=date(2026, 3, 5), pickup_until=date(2026, 3, 11),
               signed_by="MARIA DA SILVA", pickup_location="Agência Correios Centro, Rua Augusta 1500, São Paulo",
               event_text="Objeto aguardando documentação para liberação na alfândega", location="Curitiba, PR",
               locale_tag="pt-BR", rating_links=RATING_LINKS)
    ctx.update(over)
    return ctx


def test_every_locale_has_every_milestone():
    for locale in LOCALES:
        names = {p.name for p in (TEMPLATES / locale).iterdir()}
        assert {f"{m}.txt.j2" for m in TEMPLATE_NAMES} | {"_email.html.j2"} <= names, locale


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_translations_use_the_same_variables_as_english(name):
    env = Renderer().env
    used = {locale: meta.find_undeclared_variables(env.parse((TEMPLATES / locale / f"{name}.txt.j2").read_text()))
            for locale in LOCALES}
    for locale in LOCALES[1:]:
        assert used[locale] == used["en"], (locale, name, used[locale] ^ used["en"])


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("milestone", TEMPLATE_NAMES)
@pytest.mark.parametrize("optional", ["all", "none"])
def test_renders_in_every_locale_and_channel(locale, milestone, optional):
    assert Renderer().env.undefined is StrictUndefined  # a missing variable raises instead of printing ""
    blank = {} if optional == "all" else dict(expected_delivery=None, pickup_until=None, signed_by=None,
                                              pickup_location=None, event_text="", location="")
    ctx = context(**blank, locale_tag=locale)
    try:
        out = Renderer().render(milestone, locale, ctx)
    except UndefinedError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{locale}/{milestone}: {exc}")
    assert out.locale == locale
    for part in (out.subject, out.sms, out.text, out.html):
        assert "PA-2026-000123" in part
        assert "{{" not in part and "{%" not in part
    assert "\n" not in out.subject
    assert ctx["tracking_url"] in out.html
    assert ctx["tracking_url"] in out.text or milestone in ("delivered", "follow_up")
    # problem messages say how to reach support, in every part
    if milestone in ("exception", "failed_attempt", "delayed", "silent"):
        assert ctx["support_email"] in out.text
    # the SMS as it is sent: the full text within the locale's budget, else the short one; never cut
    link = RATING_LINKS[0]["url"] if milestone == "follow_up" else ctx["tracking_url"]
    budget = SmsSettings().budget(locale)
    sms = segments.pick([out.sms, out.sms_short], budget)
    assert sms in (out.sms, out.sms_short)
    assert segments.info(sms).segments <= budget or sms == out.sms_short, (locale, milestone, segments.info(sms))
    for forms in essentials(milestone, locale, ctx):
        assert any(f in sms for f in forms), (locale, milestone, forms, sms)
    assert link in sms or milestone == "delivered"


def essentials(milestone: str, locale: str, ctx: dict) -> list[tuple[str, ...]]:
    """What an SMS may never lose, each as the forms that say it: the order, the date, the pickup deadline and
    (ready for pickup) its place. The short form of a problem SMS gives the deadline as 13/01 and leaves the
    place to the page it links, so the apology and the support contact fit the budget."""
    out: list[tuple[str, ...]] = [(ctx["order_number"],)]
    if milestone in ("shipped", "delayed") and ctx.get("expected_delivery"):
        out.append((localized_date(ctx["expected_delivery"], locale), short_date(ctx["expected_delivery"], locale)))
    if milestone == "available_for_pickup" and ctx.get("pickup_location"):
        out.append((place_name(ctx["pickup_location"]),))
    if milestone in ("available_for_pickup", "failed_attempt", "exception") and ctx.get("pickup_location") \
            and ctx.get("pickup_until"):
        out.append((localized_date(ctx["pickup_until"], locale), short_date(ctx["pickup_until"], locale)))
    return out


@pytest.mark.parametrize("locale", LOCALES)
def test_follow_up_lists_the_five_rating_links_in_every_locale(locale):
    out = Renderer().render("follow_up", locale, context(locale_tag=locale))
    assert out.locale == locale and "PA-2026-000123" in out.subject
    # one line per score, best first: "<score> - <words>: <link>", the link whole
    rows = re.findall(r"^([1-5]) - (.+): (https://\S+)$", out.text, re.M)
    assert [(int(score), url) for score, _, url in rows] == [(link["score"], link["url"]) for link in RATING_LINKS]
    labels = [label for _, label, _ in rows]
    assert len(set(labels)) == 5
    if locale == "en":
        assert labels == [link["label"] for link in RATING_LINKS]
    else:  # the score words are translated, not the English labels
        assert not set(labels) & set(LABELS.values()), (locale, labels)
    for link in RATING_LINKS:  # whole and unescaped in the HTML part too
        assert link["url"] in out.html
    assert "suporte@papelaria-aurora.example" in out.text
    assert RATING_LINKS[0]["url"] in out.sms  # the best score's link, as in English


@pytest.mark.parametrize("locale", LOCALES)
def test_pickup_place_and_deadline_reach_every_locale(locale):
    r = Renderer()
    ctx = context(locale_tag=locale)
    place, until = ctx["pickup_location"], localized_date(ctx["pickup_until"], locale)
    # ready for pickup: where and until when, in the SMS and the email
    ready = r.render("available_for_pickup", locale, ctx)
    assert until in ready.sms and place in ready.sms and until in ready.text and place in ready.text
    open_ended = r.render("available_for_pickup", locale, context(locale_tag=locale, pickup_until=None))
    assert until not in open_ended.sms and until not in open_ended.text
    assert open_ended.text.split("\n\n")[1] != ready.text.split("\n\n")[1]  # another sentence, not a hole
    # failed attempt and exception: the pickup point and its deadline when known, nothing when not
    for name in ("failed_attempt", "exception"):
        known = r.render(name, locale, ctx)
        assert place in known.text and until in known.text, (name, known.text)
        place_only = r.render(name, locale, context(locale_tag=locale, pickup_until=None))
        assert place in place_only.text and until not in place_only.text
        unknown = r.render(name, locale, context(locale_tag=locale, pickup_location=None))
        assert place not in unknown.text and until not in unknown.text
        assert len(known.text.split("\n\n")) == len(unknown.text.split("\n\n")) + (name == "exception")
        for out in (known, place_only, unknown):
            assert ctx["tracking_url"] in out.text
            # the closing words stay their own paragraph (a block tag at a line end eats the blank line)
            last = out.text.split("\n\n")[-1]
            assert ctx["support_email"] in last and (name == "exception" or ctx["tracking_url"] not in last)
            assert out.html.count("<p ") == len(out.text.split("\n\n")) + 3  # header, button, footer


def test_an_sms_over_its_budget_gives_way_to_the_short_form_and_is_never_cut():
    out = Renderer().render("out_for_delivery", "en", context(pickup_location=None))
    assert segments.info(out.sms).segments == 2 and segments.info(out.sms_short).segments == 1
    assert segments.pick([out.sms, out.sms_short], 2) == out.sms  # fits: the full text
    assert segments.pick([out.sms, out.sms_short], 1) == out.sms_short
    out = Renderer().render("available_for_pickup", "el", context(locale_tag="el"))
    assert segments.info(out.sms).encoding == "UCS-2"
    # not even the short form fits one segment: it goes whole, the place's name and the link in it
    sent = segments.pick([out.sms, out.sms_short], 1)
    assert sent == out.sms_short and place_name(context()["pickup_location"]) in sent
    assert sent.endswith(context()["tracking_url"])
    assert segments.pick(["only one text", None], 1) == "only one text"


def test_segment_arithmetic():
    assert segments.info("a" * 160) == segments.SegmentInfo("GSM-7", 160, 1)
    assert segments.info("a" * 161).segments == 2
    assert segments.info("a" * 306).segments == 2 and segments.info("a" * 307).segments == 3
    assert segments.info("€" * 80).units == 160  # extension characters count twice
    assert segments.info("α" * 70).segments == 1 and segments.info("α" * 71).segments == 2
    assert segments.info("α" * 134).segments == 2 and segments.info("α" * 135).segments == 3
    assert segments.info("ok 👍").encoding == "UCS-2"
    assert segments.pick(["short"], 1) == "short"


def test_accents_are_never_taken_off():
    text = "Seu pedido PA-1 está a caminho; ação necessária até terça-feira. Você intentó. " * 3
    assert segments.pick([text], 1) == text.strip()
    assert segments.info(text).encoding == "UCS-2"
    assert segments.info("Él intentó, está aquí").encoding == "UCS-2"
    assert segments.info("Llegó el paquete? Sí").encoding == "UCS-2"
    assert segments.info("café, niño, über").encoding == "GSM-7"  # é, ñ, ü are in GSM-7: no UCS-2 for them


def test_dates_read_as_a_native_writes_them():
    r = Renderer()
    wed, sat = date(2026, 1, 7), date(2026, 1, 10)
    es = r.render("delayed", "es", context(expected_delivery=wed)).text
    assert "entregarlo el miércoles 7 de enero." in es and "miércoles," not in es
    el = r.render("shipped", "el", context(expected_delivery=wed)).text
    assert "Αναμένεται να φτάσει την Τετάρτη 7 Ιανουαρίου." in el
    assert "το Σάββατο 10 Ιανουαρίου" in r.render("shipped", "el", context(expected_delivery=sat)).text
    assert "δεν έφτασε στην ημερομηνία" in r.render("delayed", "el", context()).text
    assert "quarta-feira, 7 de janeiro" in r.render("shipped", "pt-BR", context(expected_delivery=wed)).text
    assert "on Wednesday, January 7." in r.render("shipped", "en", context(expected_delivery=wed)).text
    assert "Si no va a haber nadie en casa" in r.render("out_for_delivery", "es", context()).text


@pytest.mark.parametrize("locale", LOCALES)
def test_the_carriers_own_words_never_reach_the_customer_the_detail_does(locale):
    """The carrier's raw text is for support; the customer reads the step and its detail in their language."""
    r = Renderer()
    raw = "Delivery attempted, nobody home"
    for name in ("failed_attempt", "exception"):
        out = r.render(name, locale, context(event_text=raw, **details.template_context("nobody_home", locale)))
        for part in (out.subject, out.sms, out.sms_short or "", out.text, out.html):
            assert raw not in part
        assert details.detail("nobody_home", locale).what in out.text
        # the step itself is told without a detail too
        without = r.render(name, locale, context())
        assert details.detail("nobody_home", locale).what not in without.text


def test_unknown_locale_falls_back_to_english_and_regional_variants_to_their_language():
    assert Renderer().render("shipped", "fr-FR", context()).locale == "en"
    assert Renderer().render("shipped", "es-MX", context()).locale == "es"
    assert Renderer().render("shipped", "el_GR", context()).locale == "el"


def test_expected_date_is_localized():
    ctx = context(expected_delivery=date(2026, 3, 5))
    assert "março" in Renderer().render("shipped", "pt-BR", ctx).text
    assert "marzo" in Renderer().render("shipped", "es", ctx).text
    assert "Μαρτίου" in Renderer().render("shipped", "el", ctx).text


def test_a_shop_can_override_a_template(tmp_path):
    (tmp_path / "es").mkdir()
    (tmp_path / "es" / "shipped.txt.j2").write_text(
        "{% block subject %}¡{{ order_number }} va para allá!{% endblock %}"
        "{% block sms %}{{ shop_name }}: ¡ya va! {{ tracking_url }}{% endblock %}"
        "{% block text %}Texto propio de la tienda. {{ tracking_url }}{% endblock %}")
    r = Renderer(str(tmp_path))
    out = r.render("shipped", "es", context())
    assert out.subject == "¡PA-2026-000123 va para allá!" and out.text.startswith("Texto propio de la tienda")
    assert "Sigue tu paquete" in out.html  # the layout is still the packaged Spanish one
    assert r.render("delivered", "es", context()).subject.startswith("Tu pedido")  # others untouched
