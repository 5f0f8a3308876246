"""`tracker check` works for every source: an aggregator is asked once (registering the number first, as
it answers only about numbers it tracks), and the output names the real carrier and the source."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import yaml

from tests.fakes.aftership import FakeAfterShip
from tests.fakes.easypost import FakeEasyPost
from tests.fakes.seventeentrack import FakeSeventeenTrack
from tests.fakes.ups_trackalert import FakeUPSTrackAlert
from tests.sources_env import source_sections
from tracker.cli import main

CASES = [
    (FakeSeventeenTrack, "7200123456", ["--carrier", "acs"], "ACS Courier via 17track"),
    (FakeAfterShip, "10082700123456", ["--carrier", "jadlog"], "Jadlog via aftership"),
    (FakeEasyPost, "RR123456785ES", [], "Correos via easypost"),
    (FakeUPSTrackAlert, "1Z999AA10123456784", [], "ups"),
]


@pytest.mark.parametrize("fake_cls,number,flags,label", CASES, ids=[c[0].label for c in CASES])
async def test_tracker_check_for_every_source(fake_cls, number, flags, label, tmp_path, capsys):
    async with fake_cls() as fake:
        fake.scan_of(number, "info").scans[0].when -= timedelta(hours=5)
        fake.scan_of(number, "transit")
        if fake_cls is FakeUPSTrackAlert:
            fake.parcels[number].id = number
        path = tmp_path / "config.yaml"
        data = {"database": {"url": f"sqlite:///{tmp_path / 't.db'}"}, **source_sections(fake)}
        path.write_text(yaml.safe_dump(data))
        code = await asyncio.to_thread(main, ["--config", str(path), "check", number, *flags])
        out = capsys.readouterr().out
        assert code == 0, out
        assert out.startswith(f"{label} {number}: in_transit"), out
        assert "info_received" in out


async def test_tracker_check_says_when_no_source_serves_a_carrier(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": f"sqlite:///{tmp_path / 't.db'}"}}))
    code = await asyncio.to_thread(main, ["--config", str(path), "check", "7200123456", "--carrier", "acs"])
    err = capsys.readouterr().err
    assert code == 2 and "no tracking source serves 'acs'" in err and "sources:" in err


def test_shops_may_name_the_carrier_as_they_know_it(tmp_path):
    from tracker.components import load
    from tracker.orders import validate
    from tracker.routing import accepted_carriers, router

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"carriers": {"17track": {"api_key": "k"}}, "sources": {"default": "17track"}}))
    settings = load(path)
    for given, expected in (("ACS Courier", "acs"), ("Total  Express", "total-express"), ("correos", "correos-es"),
                            ("Geniki Taxydromiki", "geniki"), ("BOX NOW", "boxnow")):
        reg = validate(order_number="O-1", carrier=given, tracking_number="123456789", email="a@example.com",
                       known_carriers=accepted_carriers(settings), route=router(settings))
        assert (reg.carrier, reg.source) == (expected, "17track"), given
    reg = validate(order_number="O-2", carrier=None, tracking_number="XY123", email="a@example.com",
                   known_carriers=accepted_carriers(settings), route=router(settings))
    assert (reg.carrier, reg.source) == ("auto", "17track")  # nobody can place it: 17TRACK detects it


def test_docs_aggregator_codes_are_the_catalog():
    """docs/carriers.md tells shops which code tracker sends each aggregator: it is the catalog itself."""
    from pathlib import Path

    from tracker.carriers.catalog import CATALOG

    doc = Path(__file__).resolve().parents[1] / "docs" / "carriers.md"
    rows = ["| carrier | market | 17TRACK key | AfterShip slug | EasyPost carrier |", "|---|---|---|---|---|"]
    rows += [f"| {c.name} | {c.market} | {c.seventeen or '—'} | {c.aftership or '—'} | {c.easypost or '—'} |"
             for c in CATALOG.values() if c.name != "sandbox"]
    head, start, end = "<!-- generated from tracker/carriers/catalog.py -->\n", None, "\n<!-- end -->"
    text = doc.read_text(encoding="utf-8")
    start = text.index(head) + len(head)
    table = "\n".join(rows)
    if text[start:text.index(end, start)] != table:
        doc.write_text(text[:start] + table + text[text.index(end, start):], encoding="utf-8")
        pytest.fail("docs/carriers.md's aggregator codes were out of date; rewritten: review and commit it")
