"""docs/whatsapp-templates.md: the suggested utility template per milestone x locale, generated (issue 23)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_wording import ENGLISH
from tracker.status import Milestone
from tracker.wording.whatsapp_templates import LOCALES, TEMPLATES, document

DOC = Path(__file__).resolve().parents[1] / "docs" / "whatsapp-templates.md"
VAR = re.compile(r"\{\{(\d+)\}\}")


def test_docs_whatsapp_templates_md_is_what_the_module_writes():
    text = document()
    if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
        DOC.write_text(text, encoding="utf-8")
        pytest.fail("docs/whatsapp-templates.md was out of date; it has been rewritten: review and commit it")


def test_every_milestone_in_every_language_follows_metas_utility_rules():
    assert set(TEMPLATES) == {m.value for m in Milestone}
    for milestone, by_locale in TEMPLATES.items():
        assert set(by_locale) == set(LOCALES), milestone
        for locale, body in by_locale.items():
            assert {int(n) for n in VAR.findall(body)} <= set(range(1, 8)), (milestone, locale)
            assert "{{1}}" in body and "{{4}}" in body, (milestone, locale)  # the order and its link
            assert not VAR.match(body) and not re.search(r"\}\}\W*$", body), (milestone, locale)  # not first/last
            assert not re.search(r"\}\}\s*\{\{", body), (milestone, locale)  # never side by side
            if locale != "en":
                words = {w.lower() for w in re.findall(r"[A-Za-z]+", VAR.sub(" ", body))}
                assert not words & ENGLISH, (milestone, locale, words & ENGLISH)
