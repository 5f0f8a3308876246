"""Detection against a corpus of carriers' published test numbers and numbers built by each format's rule,
plus other couriers' published numbers that must not be claimed (tests/fixtures/tracking_numbers.json:
every entry names its format and source)."""

import json
from pathlib import Path

from tracker.carriers.detect import Undetected, choose

CORPUS = json.loads((Path(__file__).parent.parent / "fixtures" / "tracking_numbers.json").read_text())
CONFIGURED = sorted({e["carrier"] for e in CORPUS["valid"]} | {"sandbox"})   # every carrier at once


def _choose(number: str) -> str | None:
    try:
        return choose(number, CONFIGURED)
    except Undetected:
        return None


def test_corpus_rates():
    valid, invalid = CORPUS["valid"], CORPUS["invalid"]
    got = [(e, _choose(e["number"])) for e in valid]
    right = [e for e, c in got if c == e["carrier"]]
    wrong = [(e["number"], e["carrier"], c) for e, c in got if c is not None and c != e["carrier"]]
    missed = [(e["number"], e["format"]) for e, c in got if c is None]
    taken = [(e["number"], e["why"], _choose(e["number"])) for e in invalid if _choose(e["number"])]
    claimed = [(e["number"], e["courier"], _choose(e["number"])) for e in CORPUS["foreign"] if _choose(e["number"])]
    right_rate = len(right) / len(valid)
    refused_rate = 1 - len(taken) / len(invalid)
    print(f"\ndetection: {len(right)}/{len(valid)} valid numbers right ({right_rate:.1%}), "
          f"{len(invalid) - len(taken)}/{len(invalid)} invalid refused ({refused_rate:.1%}), "
          f"{len(wrong) + len(claimed)} sent to a wrong carrier ({len(claimed)} of {len(CORPUS['foreign'])} "
          f"other couriers' numbers claimed)")
    assert len(valid) >= 97 and len(invalid) >= 46
    assert not wrong, wrong
    assert not claimed, claimed
    assert right_rate >= 0.97, missed
    assert refused_rate >= 0.97, taken


def test_corpus_covers_every_format_the_issue_names():
    formats = " ".join(e["format"] for e in CORPUS["valid"])
    for name in ("UPS Mail Innovations", "UPS waybill", "FedEx Express 34", "FedEx ASTRA", "SSCC-18", "GSN",
                 "DHL Express (11)", "JJD", "DHL eCommerce GM", "DHL eCommerce (14 digits)", "IMpb (26)",
                 "USPS 20", "DHL Parcel DE"):
        assert name in formats, name
    whys = " ".join(e["why"] for e in CORPUS["invalid"])
    assert "all-zero" in whys and "is no ISO 3166 country" in whys
