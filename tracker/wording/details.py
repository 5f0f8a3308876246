"""Carrier events -> detail kinds the customer reads in their own language.

A carrier's raw text ("Delivery attempted, nobody home") is English, or the carrier's language, and is
for support only. The customer reads the step plus, when the event maps to a kind, what happened and
what happens next or what they must do, from `detail_texts.yaml`. A problem event that maps to nothing
shows the step alone and is counted for support (`unmapped`, recorded by tracker/carrier_codes.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote

import yaml

HERE = Path(__file__).parent
LOCALES = ("en", "pt-BR", "es", "el")
# Events whose detail the customer needs (what went wrong, what to do); elsewhere the step says it all.
DETAILED = frozenset({"failed_attempt", "exception", "available_for_pickup", "delivered"})
# ... and those that, unmapped, support should map.
COUNTED = frozenset({"failed_attempt", "exception"})


@dataclass(frozen=True, slots=True)
class Detail:
    kind: str
    act: bool  # the customer must do something: `todo` says what
    what: str
    next: str
    todo: str


@cache
def _table() -> dict:
    return yaml.safe_load((HERE / "carrier_details.yaml").read_text(encoding="utf-8")) or {}


@cache
def texts() -> dict[str, dict]:
    return yaml.safe_load((HERE / "detail_texts.yaml").read_text(encoding="utf-8")) or {}


@cache
def _links() -> dict[str, str]:
    return yaml.safe_load((HERE / "carrier_links.yaml").read_text(encoding="utf-8")) or {}


def reschedule_url(carrier: str, tracking_number: str) -> str | None:
    """The carrier's own rescheduling/redelivery page for this parcel (carrier_links.yaml), or None."""
    template = _links().get(carrier)
    return template.replace("{number}", quote(tracking_number, safe="")) if template else None


def map_url(address: str | None) -> str | None:
    """An OpenStreetMap search for a pickup point's address: a plain link, no script, no key."""
    return f"https://www.openstreetmap.org/search?query={quote(address, safe='')}" if address else None


def kind_of(sources: tuple[str, ...] | list[str], code: str, text: str, status: str) -> str | None:
    """The detail kind of one event, or None. `sources`: who reported it first (aggregator), then the carrier."""
    if status not in DETAILED:
        return None
    table = _table()
    if status == "delivered":  # where it was left: proof of delivery, from its own phrases only
        low = " ".join((text or "").lower().split())
        return next((k for p, k in ((table.get("proof") or {}).get("phrases") or {}).items() if p in low), None)
    for source in sources:
        codes = (table.get(source) or {}).get("codes") or {}
        if code and code in codes:
            return codes[code]
    low = " ".join((text or "").lower().split())
    if not low:
        return None
    for source in [*sources, "any"]:
        for phrase, kind in ((table.get(source) or {}).get("phrases") or {}).items():
            if phrase in low:
                return kind
    return None


def detail(kind: str | None, locale: str | None) -> Detail | None:
    """The kind in `locale` (pt-BR, else pt, else any pt-*); None when the language lacks it: then the customer
    reads the step alone, never another language."""
    if not kind or kind not in texts():
        return None
    entry = texts()[kind]
    tag = (locale or "en").replace("_", "-")
    lang = tag.split("-")[0]
    words = entry.get(tag) or entry.get(lang) or next(
        (v for k, v in entry.items() if isinstance(v, dict) and k.split("-")[0] == lang), None)
    if not words or not words.get("what") or not words.get("next") or (entry.get("act") and not words.get("todo")):
        return None
    return Detail(kind=kind, act=bool(entry.get("act")), what=words["what"], next=words["next"],
                  todo=words.get("todo", ""))


def template_context(kind: str | None, locale: str | None) -> dict:
    """The variables every template gets: detail_what, detail_next, detail_todo ('' when none), must_act."""
    d = detail(kind, locale)
    return {"detail_what": d.what if d else "", "detail_next": d.next if d else "",
            "detail_todo": d.todo if d else "", "must_act": bool(d and d.act)}


def told(kind: str | None, locale: str | None, pickup: str | None = None) -> str:
    """What the customer was told, in English, for the support alert: the truth, kind by kind."""
    d = detail(kind, locale)
    where = f" They were also told to pick it up at {pickup}." if pickup else ""
    if d is None:
        why = (f"'{kind}' has no {locale} text in tracker/wording/detail_texts.yaml" if kind else
               "the carrier's words map to no detail kind (tracker/wording/carrier_details.yaml)")
        return (f"The customer was told only that there is a problem and that we are finding out what happened "
                f"({why}).{where}")
    en = detail(kind, "en")
    if d.act:
        return f"The customer was told: {en.what}, and that they must act: \"{en.todo}\"{where}"
    return f"The customer was told: {en.what}; \"{en.next}\" (nothing to do on their side).{where}"


def unmapped(rows) -> list[tuple[str, str, str]]:
    """(source, code, text) of problem events no kind explains, from event rows (dicts with `sources`)."""
    out = []
    for r in rows:
        if r["status"] in COUNTED and kind_of(r["sources"], r["raw_code"], r["raw_text"], r["status"]) is None:
            out.append((r["sources"][0], phrase_code(r["raw_text"]), r["raw_text"]))
    return out


def phrase_code(text: str) -> str:
    """A stable short key for one carrier phrase (counted like an unknown code, one row per phrase)."""
    norm = " ".join((text or "").lower().split())
    return "phrase:" + hashlib.sha1(norm.encode()).hexdigest()[:12]
