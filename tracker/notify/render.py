"""Render a milestone into the SMS and email the customer receives. The one place text is made.

Templates live in `templates/<locale>/<milestone>.txt.j2` with three blocks (subject, sms, text), and
`templates/<locale>/_email.html.j2` wraps the text into the HTML part. A shop can override any file by
putting one of the same name in `templates.override_dir`. A locale falls back by language, then to the
shop's default: pt-PT -> pt -> pt-BR (a locale of the same language that has templates) -> shop default
-> en; es-MX -> es; el-GR -> el; en-GB -> en. The order keeps the locale it was given.
"""

from __future__ import annotations

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

TEMPLATES = Path(__file__).with_name("templates")
FALLBACK = "en"


# How a date reads inside a sentence: no year (estimates are days away), the weekday first.
DATE_PATTERNS = {"en": "EEEE, MMMM d", "pt": "EEEE, d 'de' MMMM", "es": "EEEE d 'de' MMMM", "el": "EEEE d MMMM"}


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


def localized_date(value: date | None, locale: str) -> str | None:
    if value is None:
        return None
    try:
        babel_locale = Locale.parse(locale.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        babel_locale = Locale.parse(FALLBACK)
    pattern = DATE_PATTERNS.get(babel_locale.language, DATE_PATTERNS[FALLBACK])
    return format_date(value, format=pattern, locale=babel_locale)


@pass_context
def with_article(ctx, day: str | None) -> str:
    """'jueves 5 de marzo' -> 'el jueves 5 de marzo'; Greek weekdays are feminine but Saturday:
    'την Πέμπτη', 'το Σάββατο'. Other languages take the date as it is."""
    if not day:
        return ""
    lang = str(ctx.get("render_locale", FALLBACK)).split("-")[0]
    if lang == "es":
        return f"el {day}"
    if lang == "el":
        return f"{'το' if day.startswith('Σάββατο') else 'την'} {day}"
    return day


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
        ctx.setdefault("milestone", milestone)
        ctx["render_locale"] = used
        tctx = template.new_context(ctx)
        list(template.root_render_func(tctx))  # registers the blocks of a template it extends (parcel_*): super()
        block = lambda name: _squash("".join(tctx.blocks[name][0](tctx)))  # noqa: E731
        subject, sms, text = block("subject").replace("\n", " "), block("sms"), block("text")
        short = block("sms_short") if "sms_short" in tctx.blocks else None
        if not html:
            return Rendered(subject=subject, sms=sms, text=text, html="", locale=used, sms_short=short or None)
        layout, _ = self._pick("_email.html.j2", used)
        ctx.setdefault("support_phone", "")
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
