"""What SMS cost per language: segments of every message (every milestone, with and without the
optional details) as it goes out under a budget of 2, 3 and 4 segments, for the realistic sample shops
of docs/messages.md. Shows what the per-language budget buys: the full text, the short form, or (long
pickup addresses) an SMS over the budget because the essentials are never cut.

    .venv/bin/python bench/sms_cost.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_messages_doc import LOCALES, VARIANTS, sample
from tests.test_templates import TEMPLATE_NAMES
from tracker.notify import segments
from tracker.notify.render import Renderer


def main() -> None:
    r = Renderer()
    print(f"{'locale':6} {'budget':>6} {'SMS':>4} {'segments':>8} {'per SMS':>7} {'full':>5} {'short':>5} {'over':>5} "
          f"{'UCS-2':>5}")
    for locale in LOCALES:
        outs = [r.render(name, locale, sample(locale, **over)) for name in TEMPLATE_NAMES for over in VARIANTS.values()]
        for budget in (2, 3, 4):
            sent = [(out, segments.pick([out.sms, out.sms_short], budget)) for out in outs]
            infos = [segments.info(sms) for _, sms in sent]
            total = sum(i.segments for i in infos)
            full = sum(sms == out.sms for out, sms in sent)
            over = sum(i.segments > budget for i in infos)
            ucs2 = sum(i.encoding == "UCS-2" for i in infos)
            print(f"{locale:6} {budget:>6} {len(sent):>4} {total:>8} {total / len(sent):>7.2f} {full:>5} "
                  f"{len(sent) - full:>5} {over:>5} {ucs2:>5}")


if __name__ == "__main__":
    main()
