"""What a customer's message asks, by rules and keyword tables per language (keywords/<language>.yaml): no
outside service. Pure: text in, `Understanding` out.

Matching is on normalized words (lower case, accents dropped, punctuation gone), phrase by phrase; a word of
4+ letters may carry one typo (8+ letters: two). The language is the order's when the sender is known, else
the one whose tables match best, else the shop's default.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

LANGUAGES = ("en", "pt-BR", "es", "el")
BUILT_IN = Path(__file__).with_name("keywords")
# What a person must answer, strongest first: one of these anywhere in a message makes it a case.
CASE_INTENTS = ("not_received", "damaged", "wrong_item", "cancel", "address_change", "human")

ORDER_NUMBER = re.compile(r"#?[\w\-/]*\d[\w\-/]*")
EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
PHONE = re.compile(r"\+?\d[\d\s().\-]{6,20}\d")


@dataclass(frozen=True)
class Tables:
    language: str
    stop: tuple[tuple[str, ...], ...]
    start: tuple[tuple[str, ...], ...]
    auto_reply: tuple[tuple[str, ...], ...]
    intents: dict[str, tuple[tuple[str, ...], ...]]
    texts: dict


@dataclass
class Understanding:
    intent: str  # where | thanks | one of CASE_INTENTS | unknown
    language: str | None  # the language its words matched best, if any
    order_numbers: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    matched: dict[str, int] = field(default_factory=dict)  # intent -> phrases matched


def normalize(text: str) -> str:
    """Lower case, accents dropped (Greek too), everything but letters and digits a space."""
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    bare = bare.casefold().replace("ς", "σ")
    return " ".join(re.sub(r"[^\w]+", " ", bare.replace("'", "")).replace("_", " ").split())


def _phrases(items) -> tuple[tuple[str, ...], ...]:
    out = []
    for item in items or []:
        words = tuple(normalize(str(item)).split())
        if words:
            out.append(words)
    return tuple(out)


def _read(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with stop/start/auto_reply/intents/texts")
    return data


def _merge(base: dict, extra: dict) -> dict:
    """A shop's file adds to the lists and replaces the texts it gives."""
    out = dict(base)
    for key in ("stop", "start", "auto_reply"):
        out[key] = list(base.get(key) or []) + list(extra.get(key) or [])
    intents = {k: list(v or []) for k, v in (base.get("intents") or {}).items()}
    for k, v in (extra.get("intents") or {}).items():
        intents[k] = intents.get(k, []) + list(v or [])
    out["intents"] = intents
    texts = dict(base.get("texts") or {})
    for k, v in (extra.get("texts") or {}).items():
        texts[k] = {**texts.get(k, {}), **v} if isinstance(v, dict) else v
    out["texts"] = texts
    return out


@lru_cache(maxsize=8)
def tables(extra_dir: str = "") -> dict[str, Tables]:
    """Every language's tables: the built-in files, extended by `extra_dir`/<language>.yaml."""
    out = {}
    for lang in LANGUAGES:
        data = _read(BUILT_IN / f"{lang}.yaml")
        if extra_dir and (Path(extra_dir) / f"{lang}.yaml").is_file():
            data = _merge(data, _read(Path(extra_dir) / f"{lang}.yaml"))
        out[lang] = Tables(lang, _phrases(data.get("stop")), _phrases(data.get("start")),
                           _phrases(data.get("auto_reply")),
                           {k: _phrases(v) for k, v in (data.get("intents") or {}).items()}, data.get("texts") or {})
    return out


def for_settings(settings) -> dict[str, Tables]:
    """The tables a daemon uses: the built-in ones, extended by conversations.keywords_dir (a relative
    folder is read from the config file's folder)."""
    return tables(keywords_dir(settings))


def keywords_dir(settings) -> str:
    folder = settings.conversations.keywords_dir
    if not folder:
        return ""
    path = Path(folder)
    return str(path if path.is_absolute() else Path(settings.base_dir) / path)


def check_tables(extra_dir: str) -> list[str]:
    """Problems with a shop's keyword folder, one line each (empty: fine)."""
    problems = []
    folder = Path(extra_dir)
    if not folder.is_dir():
        return [f"conversations.keywords_dir: {extra_dir} is not a folder"]
    for path in sorted(folder.glob("*.yaml")):
        if path.stem not in LANGUAGES:
            problems.append(f"conversations.keywords_dir: {path.name} is not one of "
                            f"{', '.join(l + '.yaml' for l in LANGUAGES)}")
            continue
        try:
            _read(path)
        except (ValueError, yaml.YAMLError) as exc:
            problems.append(f"conversations.keywords_dir: {path.name}: {str(exc).splitlines()[0]}")
    return problems


def _close(word: str, want: str) -> bool:
    if word == want:
        return True
    if len(want) < 4 or word[:1] != want[:1] and len(want) < 6:
        return False
    allowed = 2 if len(want) >= 8 else 1
    return abs(len(word) - len(want)) <= allowed and _distance(word, want, allowed) <= allowed


def _distance(a: str, b: str, cap: int) -> int:
    """Levenshtein distance, giving up (cap + 1) once it exceeds `cap`."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > cap:
            return cap + 1
        prev = cur
    return prev[-1]


def _has(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(all(_close(words[i + k], phrase[k]) for k in range(n)) for i in range(len(words) - n + 1))


def count(words: list[str], phrases: tuple[tuple[str, ...], ...]) -> int:
    return sum(1 for p in phrases if _has(words, p))


def is_keyword(text: str, phrases: tuple[tuple[str, ...], ...]) -> bool:
    """The whole message is one of these phrases (STOP, BAJA...): exactly, no typo."""
    return tuple(normalize(text).split()) in phrases


def understand(text: str, all_tables: dict[str, Tables], language: str | None = None) -> Understanding:
    words = normalize(text).split()
    scores: dict[str, dict[str, int]] = {}
    for lang, t in all_tables.items():
        scores[lang] = {intent: count(words, phrases) for intent, phrases in t.intents.items()}
    best = max(scores, key=lambda lang: (sum(scores[lang].values()), lang == language))
    found = sum(scores[best].values()) > 0
    # the customer's own language first, then whatever matched: a Spanish reader may write in English
    matched: dict[str, int] = {}
    for lang in ([language] if language in scores else []) + [best] + list(scores):
        for intent, n in scores[lang].items():
            matched[intent] = max(matched.get(intent, 0), n)
    intent = next((i for i in CASE_INTENTS if matched.get(i)), None)
    if intent is None:
        intent = "where" if matched.get("where") else "thanks" if matched.get("thanks") else "unknown"
    return Understanding(intent=intent, language=best if found else None, order_numbers=order_numbers(text),
                         emails=[e.lower() for e in EMAIL.findall(text)][:3],
                         phones=[p for p in PHONE.findall(text)][:3], matched={k: v for k, v in matched.items() if v})


def order_numbers(text: str) -> list[str]:
    """Words that could be order numbers (with a digit), as written: only an exact order number counts."""
    out = []
    without_mail = EMAIL.sub(" ", text)
    for m in ORDER_NUMBER.finditer(without_mail):
        token = m.group(0).strip("-/_.,")
        if 2 <= len(token) <= 64 and token not in out:
            out.append(token)
    return out[:8]


def is_auto_reply(text: str, t: dict[str, Tables]) -> bool:
    words = normalize(text).split()
    return any(count(words, tables_.auto_reply) for tables_ in t.values())
