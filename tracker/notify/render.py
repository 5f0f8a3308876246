"""Render a milestone into the SMS and email the customer receives. The one place text is made.

Templates live in `templates/<locale>/<milestone>.txt.j2` with three blocks (subject, sms, text), and
`templates/<locale>/_email.html.j2` wraps the text into the HTML part. A shop can override any file by
putting one of the same name in `templates.override_dir`. Locale falls back pt-BR -> pt -> en.
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
    select_autoescape,
)

TEMPLATES = Path(__file__).with_name("templates")
FALLBACK = "en"


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    sms: str
    text: str
    html: str
    locale: str


def locale_chain(locale: str | None) -> list[str]:
    """'pt-BR' -> ['pt-BR', 'pt', 'en']."""
    chain: list[str] = []
    if locale:
        norm = locale.replace("_", "-")
        chain.append(norm)
        if "-" in norm:
            chain.append(norm.split("-")[0])
    if FALLBACK not in chain:
        chain.append(FALLBACK)
    return chain


def localized_date(value: date | None, locale: str) -> str | None:
    if value is None:
        return None
    try:
        babel_locale = Locale.parse(locale.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        babel_locale = Locale.parse(FALLBACK)
    return format_date(value, format="full", locale=babel_locale)


class Renderer:
    def __init__(self, override_dir: str | None = None) -> None:
        loaders = [FileSystemLoader(str(TEMPLATES))]
        if override_dir:
            loaders.insert(0, FileSystemLoader(override_dir))
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def _pick(self, name: str, locale: str | None):
        for candidate in locale_chain(locale):
            try:
                return self.env.get_template(f"{candidate}/{name}"), candidate
            except TemplateNotFound:
                continue
        raise TemplateNotFound(f"{name} for locale {locale}")

    def render(self, milestone: str, locale: str | None, context: dict[str, Any]) -> Rendered:
        template, used = self._pick(f"{milestone}.txt.j2", locale)
        ctx = dict(context)
        ctx["expected_date"] = localized_date(context.get("expected_delivery"), used)
        ctx["pickup_until_date"] = localized_date(context.get("pickup_until"), used)
        ctx.setdefault("milestone", milestone)
        tctx = template.new_context(ctx)
        list(template.root_render_func(tctx))  # registers the blocks of a template it extends (parcel_*): super()
        block = lambda name: _squash("".join(tctx.blocks[name][0](tctx)))  # noqa: E731
        subject, sms, text = block("subject").replace("\n", " "), block("sms"), block("text")
        layout, _ = self._pick("_email.html.j2", used)
        html = layout.render(subject=subject, paragraphs=[p for p in text.split("\n\n") if p.strip()], **ctx)
        return Rendered(subject=subject, sms=sms, text=text, html=html, locale=used)


def _squash(text: str) -> str:
    """Trim each line and collapse runs of blank lines: templates stay readable, output stays tight."""
    lines = [line.strip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()
