"""Freshness, published: a polled and a pushed journey on the pinned clock, then the figures `tracker report`
prints (carrier event -> heard by tracker -> taken by the provider, p50/p90 per carrier and source) and the
/metrics histograms per source, way heard and milestone."""

import asyncio
from datetime import datetime, timedelta, timezone

from tests.fakes.aftership import FakeAfterShip
from tests.helpers import add, metric, notifications
from tests.messaging_env import point_public_url
from tests.sources_env import point_webhooks, sources_settings
from tests.web_helpers import Client
from tracker.cli import main


async def test_a_polled_and_a_pushed_journey_show_how_fresh_their_news_was(
        tmp_path, start_daemon, clock, fakes, monkeypatch, capsys):
    # pinned to noon UTC of the day before the real time (the hour fixed: quiet hours never move the figures), so that
    # `tracker report --since 30d` (which reads the real clock) covers it
    clock.set((datetime.now(timezone.utc) - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0))
    t0 = clock.now()
    tw, sg = fakes
    async with FakeAfterShip(now=clock.now) as source:
        daemon = await start_daemon(sources_settings(tmp_path, source, tw, sg), web_server=True)
        point_public_url(daemon)
        point_webhooks(daemon, source)
        c = Client(daemon)
        try:
            # polled: the sandbox picked the parcel up an hour ago (journey started 3 h ago, pickup at +2 h);
            # the first check hears it now and the SMS and email go out in the same pass
            polled = await add(daemon, "P-1", f"SBX-DELIVER-{int((t0 - timedelta(hours=3)).timestamp())}")
            # pushed: AfterShip tells of a scan 20 s after it happened
            pushed = await add(daemon, "Q-1", "7200123456", carrier="acs", phone=None, email="e@example.gr")
            await daemon.run_once()
            parcel = source.scan_of("7200123456", "transit")
            clock.advance(20)
            assert await source.push(parcel) == 200
            clock.advance(40)  # the email of the pushed news goes out 40 s after it was heard
            await daemon.run_once()
            sent = [n for n in await notifications(daemon.engine) if n.state == "sent"]
            assert {(n.shipment_id, n.channel, n.heard_via) for n in sent} == {
                (polled.id, "sms", "poll"), (polled.id, "email", "poll"), (pushed.id, "email", "push")}
            _, text, _ = await c.request("GET", "/metrics")
        finally:
            await c.close()

    def hist(name, source_, via, suffix):
        return metric(text, f"{name}_{suffix}", source=source_, via=via, milestone="shipped")

    assert hist("tracker_news_heard_seconds", "sandbox", "poll", "count") == 2
    assert hist("tracker_news_heard_seconds", "sandbox", "poll", "sum") == 2 * 3600
    assert hist("tracker_news_sent_seconds", "sandbox", "poll", "sum") == 0
    assert hist("tracker_news_heard_seconds", "aftership", "push", "sum") == 20
    assert hist("tracker_news_sent_seconds", "aftership", "push", "sum") == 40
    assert metric(text, "tracker_news_heard_seconds_bucket", source="aftership", via="push", milestone="shipped",
                  le="15.0") == 0
    assert metric(text, "tracker_news_heard_seconds_bucket", source="aftership", via="push", milestone="shipped",
                  le="60.0") == 1

    monkeypatch.chdir(tmp_path)
    assert await asyncio.to_thread(main, ["report", "--since", "30d"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("How fresh the news was"):].splitlines()
    assert table[1].split() == ["carrier", "source", "heard", "by", "messages", "heard", "p50", "heard", "p90",
                                "sent", "p50", "sent", "p90"]
    rows = {tuple(line.split()[:3]): line.split()[3:] for line in table[3:]}
    assert rows[("acs", "aftership", "push")] == ["1", "20", "s", "20", "s", "40", "s", "40", "s"]
    assert rows[("sandbox", "sandbox", "poll")] == ["2", "60", "min", "60", "min", "0", "s", "0", "s"]
