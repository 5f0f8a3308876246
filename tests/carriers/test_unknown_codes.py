"""Unknown carrier codes are counted per carrier, listed for support and alerted once per new code."""

import aiohttp
from sqlalchemy import select

from tests.carriers.conftest import HOURLY, NUMBERS
from tests.fakes.carriers import journey
from tests.helpers import add, make_settings, walk
from tracker.carrier_codes import story_lines, tally
from tracker.db import sessionmaker
from tracker.models import Alert
from tracker.story import carriers_story


async def test_unknown_codes_are_counted_listed_and_alerted_once(tmp_path, start_daemon, clock, fake):
    second_fedex = "612345678902"
    fake.add("fedex", NUMBERS["fedex"], journey("label", "unknown", every_hours=1))
    fake.add("fedex", second_fedex, journey("label", "unknown", every_hours=1))
    fake.add("ups", NUMBERS["ups"], journey("label", "in_transit", every_hours=1))
    settings = make_settings(tmp_path, carriers={n: fake.settings(n) for n in ("fedex", "ups")}, **HOURLY,
                             server={"enabled": True, "port": 0})
    daemon = await start_daemon(settings, web_server=True)
    for i, number in enumerate((NUMBERS["fedex"], second_fedex, NUMBERS["ups"])):
        await add(daemon, f"ORDER-{i}", number, carrier=None, phone=None)
    first_seen = clock.now()
    await walk(daemon, clock, 4)

    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{daemon.port}/metrics") as resp:
        metrics = await resp.text()
    assert 'tracker_unknown_carrier_codes_total{carrier="fedex"} 2' in metrics
    assert 'tracker_unknown_carrier_code_kinds{carrier="fedex"} 1' in metrics
    assert 'tracker_unknown_carrier_codes_total{carrier="ups"} 0' in metrics

    story = await carriers_story(daemon.engine, settings, clock.now())
    line = next(x for x in story.splitlines() if x.startswith("fedex") and " ZZ " in x)
    assert line.split()[:3] == ["fedex", "ZZ", "2"] and "Mystery scan" in line
    assert f"{first_seen:%Y-%m-%d}" in line

    async with sessionmaker(daemon.engine)() as session:
        alerts = (await session.execute(select(Alert).where(Alert.cause == "unknown_code"))).scalars().all()
    assert [(a.carrier, a.key) for a in alerts] == [("fedex", "carrier_code:fedex:ZZ")]   # one for two sightings
    assert "'ZZ'" in alerts[0].message and "STATUS_MAP in tracker/carriers/fedex.py" in alerts[0].message


def test_tally_counts_per_carrier_and_keeps_the_first_text():
    seen = [("ups", "X1", "Renamed scan"), ("ups", "X1", "Renamed scan, again"), ("dhl", "X1", "")]
    assert tally(seen) == {("ups", "X1"): ("Renamed scan", 2), ("dhl", "X1"): ("", 1)}


def test_story_says_none_when_every_code_is_known():
    assert story_lines([]) == ["", "unknown carrier codes: none"]
