"""Render a milestone into the SMS and email the customer receives. The one place text is made.

Templates live in `templates/<locale>/<milestone>.txt.j2` with three blocks (subject, sms, text), and
`templates/<locale>/_email.html.j2` wraps the text into the HTML part. A shop can override any file by
putting one of the same name in `templates.override_dir`. A locale falls back by language, then to the
shop's default: pt-PT -> pt -> pt-BR (a locale of the same language that has templates) -> shop default
-> en; es-MX -> es; el-GR -> el; en-GB -> en. The order keeps the locale it was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from markupsafe import Markup, escape

TEMPLATES = Path(__file__).with_name("templates")
FALLBACK = "en"


# How a date reads inside a sentence: no year (estimates are days away), the weekday first.
DATE_PATTERNS = {"en": "EEEE, MMMM d", "pt": "EEEE, d 'de' MMMM", "es": "EEEE d 'de' MMMM", "el": "EEEE d MMMM"}
# ... and in an SMS short form, where every character counts (the page has the full date).
SHORT_DATE_PATTERNS = {"en": "M/d", "pt": "dd/MM", "es": "d/M", "el": "d/M"}


@dataclass(frozen=True, slots=True)
class Brand:
    """The shop's look in the HTML email: logo, colours, and the name above every message."""

    logo_url: str = ""
    primary: str = "#1c1917"  # the button and the links
    on_primary: str = "#ffffff"  # text on the button
    background: str = "#f5f5f4"


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    sms: str
    text: str
    html: str
    locale: str
    sms_short: str | None = None  # the essentials only, for when `sms` is over the segment budget


def locale_chain(locale: str | None, default: str | None = None, available: tuple[str, ...] = ()) -> list[str]:
    """'pt-PT' -> ['pt-PT', 'pt', 'pt-BR', <default's chain>, 'en'] where 'pt-BR' is the first of
    `available` (locales that have templates) of the same language."""
    chain: list[str] = []
    for tag in (locale, default):
        if not tag:
            continue
        norm = tag.replace("_", "-")
        lang = norm.split("-")[0]
        chain += [norm, lang] + [a for a in available if a.split("-")[0] == lang]
    chain.append(FALLBACK)
    return list(dict.fromkeys(chain))


def localized_date(value: date | None, locale: str, patterns: dict[str, str] = DATE_PATTERNS) -> str | None:
    if value is None:
        return None
    try:
        babel_locale = Locale.parse(locale.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        babel_locale = Locale.parse(FALLBACK)
    pattern = patterns.get(babel_locale.language, patterns[FALLBACK])
    return format_date(value, format=pattern, locale=babel_locale)


def short_date(value: date | None, locale: str) -> str | None:
    """'13/01' (pt-BR), '1/13' (en-US): a date for an SMS short form."""
    return localized_date(value, locale, SHORT_DATE_PATTERNS)


def place_name(location: str | None) -> str | None:
    """'Agência Jadlog Vila Mariana, Rua Domingos de Morais 1500, São Paulo' -> 'Agência Jadlog Vila Mariana':
    the pickup point an SMS short form names (the page gives its address, hours and map)."""
    return location.split(",")[0].strip() if location else location


# Greek keeps the final ν of the feminine article before a vowel and before κ, π, τ, ξ, ψ, μπ, ντ, γκ, τσ, τζ:
# τη Δευτέρα, την Τρίτη, την Τετάρτη, την Πέμπτη, την Παρασκευή, την Κυριακή; Saturday is neuter: το Σάββατο.
GREEK_KEEPS_NU = tuple("αεηιουωάέήίόύώκπτξψ") + ("μπ", "ντ", "γκ", "τσ", "τζ")


def greek_article(day: str) -> str:
    if day.startswith("Σάββατο"):
        return "το"
    return "την" if day.lower().startswith(GREEK_KEEPS_NU) else "τη"


@pass_context
def with_article(ctx, day: str | None) -> str:
    """'jueves 5 de marzo' -> 'el jueves 5 de marzo'; Greek: 'τη Δευτέρα', 'την Πέμπτη', 'το Σάββατο'.
    Other languages take the date as it is."""
    if not day:
        return ""
    lang = str(ctx.get("render_locale", FALLBACK)).split("-")[0]
    if lang == "es":
        return f"el {day}"
    if lang == "el":
        return f"{greek_article(day)} {day}"
    return day


def time_range(start: str | None, end: str | None, locale: str) -> str | None:
    """A delivery window ("14:00", "16:00") as the locale says it, never with seconds: en-US "2–4 PM",
    pt-BR "das 14h às 16h", es "entre las 14:00 y las 16:00", el "μεταξύ 14:00 και 16:00"."""
    if not start or not end:
        return None
    try:
        (h1, m1), (h2, m2) = [tuple(int(x) for x in t.split(":")[:2]) for t in (start, end)]
    except ValueError:
        return None
    lang = locale.split("-")[0]
    if lang == "pt":
        def hm(h, m):
            return f"{h}h{m:02d}" if m else f"{h}h"
        return f"das {hm(h1, m1)} às {hm(h2, m2)}"
    if lang == "es":
        return f"entre las {h1}:{m1:02d} y las {h2}:{m2:02d}"
    if lang == "el":
        return f"μεταξύ {h1:02d}:{m1:02d} και {h2:02d}:{m2:02d}"

    def twelve(h, m, with_period):
        text = f"{(h % 12) or 12}" + (f":{m:02d}" if m else "")
        return f"{text} {'AM' if h < 12 else 'PM'}" if with_period else text
    same = (h1 < 12) == (h2 < 12)
    return f"{twelve(h1, m1, not same)}–{twelve(h2, m2, True)}"


# "both parcels" / "all 3 parcels", as each language says every parcel of an order.
ALL_PARCELS = {"en": ("both parcels", "all {n} parcels"), "pt": ("ambos os pacotes", "os {n} pacotes"),
               "es": ("los dos paquetes", "los {n} paquetes"), "el": ("και τα δύο δέματα", "και τα {n} δέματα")}


def all_parcels(count: int | None, locale: str) -> str:
    two, many = ALL_PARCELS.get(locale.split("-")[0], ALL_PARCELS[FALLBACK])
    return two if count == 2 else many.format(n=count)


URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Escape a paragraph and make every web address in it a link (a trailing full stop stays text)."""
    out, last = [], 0
    for m in URL.finditer(text):
        url = m.group().rstrip(".,;:!?)»")
        out += [escape(text[last:m.start()]), Markup('<a href="{0}">{0}</a>').format(url)]
        last = m.start() + len(url)
    out.append(escape(text[last:]))
    return Markup("").join(out)


class Renderer:
    def __init__(self, override_dir: str | None = None, brand: Brand | None = None,
                 default_locale: str | None = None) -> None:
        self.brand = brand or Brand()
        self.default_locale = default_locale
        loaders = [FileSystemLoader(str(TEMPLATES))]
        dirs = [TEMPLATES]
        if override_dir:
            loaders.insert(0, FileSystemLoader(override_dir))
            dirs.insert(0, Path(override_dir))
        self.available = tuple(sorted({p.name for d in dirs if d.is_dir() for p in d.iterdir() if p.is_dir()}))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["the"] = with_article
        self.env.filters["linkify"] = linkify

    def _pick(self, name: str, locale: str | None):
        for candidate in locale_chain(locale, self.default_locale, self.available):
            try:
                return self.env.get_template(f"{candidate}/{name}"), candidate
            except TemplateNotFound:
                continue
        raise TemplateNotFound(f"{name} for locale {locale}")

    def render(self, milestone: str, locale: str | None, context: dict[str, Any], *, html: bool = True) -> Rendered:
        """Every part of one message; `html=False` (SMS, WhatsApp) skips the email layout, the costliest part."""
        template, used = self._pick(f"{milestone}.txt.j2", locale)
        ctx = dict(context)
        ctx["expected_date"] = localized_date(context.get("expected_delivery"), used)
        ctx["pickup_until_date"] = localized_date(context.get("pickup_until"), used)
        ctx["pickup_until_short"] = short_date(context.get("pickup_until"), used)
        ctx["expected_short"] = short_date(context.get("expected_delivery"), used)
        ctx["all_parcels"] = all_parcels(context.get("parcel_count"), used)
        ctx["window"] = time_range(context.get("window_from"), context.get("window_to"), used)
        ctx["pickup_place"] = place_name(context.get("pickup_location"))
        # an SMS names the number to call when the shop has one: one tap, and shorter than an address
        ctx["sms_contact"] = context.get("support_phone") or context.get("support_email", "")
        ctx.setdefault("milestone", milestone)
        for key in ("detail_what", "detail_next", "detail_todo"):  # tracker/wording/details.py
            ctx.setdefault(key, "")
        ctx.setdefault("must_act", False)
        ctx["render_locale"] = used
        tctx = template.new_context(ctx)
        list(template.root_render_func(tctx))  # registers the blocks of a template it extends (parcel_*): super()
        block = lambda name: _squash("".join(tctx.blocks[name][0](tctx)))  # noqa: E731
        subject, sms, text = block("subject").replace("\n", " "), block("sms"), block("text")
        short = block("sms_short") if "sms_short" in tctx.blocks else None
        # an en dash alone would make a whole SMS UCS-2 (70 characters a segment instead of 160)
        sms, short = sms.replace("\u2013", "-"), short and short.replace("\u2013", "-")
        if not html:
            return Rendered(subject=subject, sms=sms, text=text, html="", locale=used, sms_short=short or None)
        layout, _ = self._pick("_email.html.j2", used)
        ctx.setdefault("support_phone", "")
        ctx.setdefault("preferences_url", None)  # the email footer's links (dispatcher), in the customer's language
        ctx.setdefault("unsubscribe_url", None)
        ctx.setdefault("support_hours", "")
        html = layout.render(subject=subject, paragraphs=[p for p in text.split("\n\n") if p.strip()],
                             brand=self.brand, **ctx)
        return Rendered(subject=subject, sms=sms, text=text, html=html, locale=used, sms_short=short or None)


def _squash(text: str) -> str:
    """Trim each line and collapse runs of blank lines: templates stay readable, output stays tight."""
    lines = [line.strip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
