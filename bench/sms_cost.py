"""What SMS cost per language: the segments of every template (milestones, their per-parcel forms and
the follow-up) in every locale, as it goes out under that locale's budget (`sms.max_segments_by_locale`:
the full text, else the short form), for the realistic sample shops of docs/messages.md and each of
their variants (every detail / no optional detail / a detail the customer must act on). The worst
variant is shown; `*` marks one over its budget (tests/test_sms_budget.py fails on it).

    .venv/bin/python bench/sms_cost.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_messages_doc import LOCALES, VARIANTS, sample
from tracker.config import SmsSettings
from tracker.notify import segments
from tracker.notify.render import TEMPLATES, Renderer

PARCEL_CONTEXT = {"parcel_index": 1, "parcel_count": 2, "parcels_delivered": 1, "parcels_remaining": 1,
                  "window_from": None, "window_to": None, "later_than_promised": True}


def template_names() -> list[str]:
    return sorted(p.name.removesuffix(".txt.j2") for p in (TEMPLATES / "en").glob("*.txt.j2"))


def rows(settings: SmsSettings | None = None):
    """(template, locale, budget, worst segments, encoding of the worst, form sent: full/short)."""
    settings = settings or SmsSettings()
    r = Renderer()
    for name in template_names():
        for locale in LOCALES:
            budget = settings.budget(locale)
            worst = None
            for over in VARIANTS.values():
                ctx = {**PARCEL_CONTEXT, **sample(locale, **over)}
                if name == "arriving_today":
                    ctx.update(window_from="14:00", window_to="16:00")
                out = r.render(name, locale, ctx)
                sms = segments.pick([out.sms, out.sms_short], budget)
                info = segments.info(sms)
                form = "full" if sms == out.sms else "short"
                if worst is None or info.segments > worst[3]:
                    worst = (name, locale, budget, info.segments, info.encoding, form)
            yield worst


def main() -> None:
    print(f"{'template':28} " + " ".join(f"{loc:>12}" for loc in LOCALES))
    table: dict[str, dict[str, tuple]] = {}
    for row in rows():
        table.setdefault(row[0], {})[row[1]] = row
    over = 0
    for name, by_locale in table.items():
        cells = []
        for loc in LOCALES:
            _, _, budget, segs, enc, form = by_locale[loc]
            mark = "*" if segs > budget else " "
            over += segs > budget
            cells.append(f"{segs}/{budget}{mark}{'U' if enc == 'UCS-2' else 'G'}{form[0]}".rjust(12))
        print(f"{name:28} " + " ".join(cells))
    print("cells: segments/budget, * over budget, G GSM-7 / U UCS-2, f full text / s short form")
    print(f"over budget: {over}")


if __name__ == "__main__":
    main()
