"""Every template in every locale and channel renders without a missing variable, and every SMS stays
within its segment limit with the tracking link whole. The translations carry the English information:
the same variables, the pickup place and deadline, the five rating links of the follow-up email."""

from __future__ import annotations

import re
from datetime import date
from types import SimpleNamespace

import pytest
from jinja2 import StrictUndefined, UndefinedError, meta

from tracker.notify import segments
from tracker.notify.render import TEMPLATES, Renderer, localized_date
from tracker.status import Milestone
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
    # the SMS as it is sent: within 2 segments, the link whole
    link = RATING_LINKS[0]["url"] if milestone == "follow_up" else ctx["tracking_url"]
    sms = segments.fit(out.sms, 2, keep=link)
    assert segments.info(sms).segments <= 2, (locale, milestone, segments.info(sms))
    assert link in sms or milestone == "delivered"


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


def test_greek_is_ucs2_and_kept_within_two_segments():
    out = Renderer().render("shipped", "el", context(locale_tag="el"))
    assert segments.info(out.sms).encoding == "UCS-2"
    long = out.sms + " " + "λίγο ακόμη κείμενο για να ξεπεράσει το όριο " * 4
    fitted = segments.fit(long, 2, keep=context()["tracking_url"])
    info = segments.info(fitted)
    assert info.encoding == "UCS-2" and info.segments == 2 and info.units <= 134
    assert fitted.endswith(context()["tracking_url"]) and "…" in fitted


def test_segment_arithmetic():
    assert segments.info("a" * 160) == segments.SegmentInfo("GSM-7", 160, 1)
    assert segments.info("a" * 161).segments == 2
    assert segments.info("a" * 306).segments == 2 and segments.info("a" * 307).segments == 3
    assert segments.info("€" * 80).units == 160  # extension characters count twice
    assert segments.info("α" * 70).segments == 1 and segments.info("α" * 71).segments == 2
    assert segments.info("α" * 134).segments == 2 and segments.info("α" * 135).segments == 3
    assert segments.info("ok 👍").encoding == "UCS-2"
    assert segments.fit("short", 1) == "short"


def test_latin_accents_give_way_before_words():
    text = "Seu pedido PA-1 está a caminho com a transportadora; ação necessária em breve. " * 3 + "https://x.example/t/1"
    fitted = segments.fit(text, 2, keep="https://x.example/t/1")
    assert segments.info(fitted).encoding == "GSM-7" and "esta a caminho" in fitted and "acao" in fitted
    assert fitted.endswith("https://x.example/t/1")


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
