"""A short bench/chaos.py in the suite: real `tracker run` processes SIGKILLed at the instant a provider
has taken a message (a send in flight), and providers failing a quarter of their requests; every message
counted at the fake Twilio and SendGrid. Nothing may be lost, no SMS may go out twice, and an email may go
out twice only where tracker itself counts a resend in doubt (the README's one admitted window).
Quiet hours are off in these runs, so they do not depend on the hour (not rerun under faketime)."""

from __future__ import annotations

from bench.chaos import run_scenario


def check(result, disruptions: int | None = None) -> None:
    """Run inside the scenario (run_scenario(check=...)): a failure prints every daemon's output."""
    print(result)
    if disruptions is not None:
        assert result.disruptions == disruptions, result
    else:
        assert result.disruptions > 0, result
    assert result.lost == 0, result
    assert result.dup_sms == 0, result
    assert result.dup_whatsapp == 0, result
    assert result.dup_email <= result.resent_in_doubt, result
    assert result.once + result.dup_sms + result.dup_email >= result.expected - result.lost


async def test_sqlite_daemon_killed_with_sends_in_flight_loses_nothing_and_sends_no_sms_twice(tmp_path):
    await run_scenario("sqlite-kill", 12, tmp_path, kill_on={5, 30, 55}, step_timeout=240,
                       check=lambda r: check(r, disruptions=3))


async def test_three_postgres_daemons_killed_with_sends_in_flight(tmp_path, pg_url):
    # pg_url makes the test skip (or fail in CI) where no PostgreSQL answers; the run makes its own database
    await run_scenario("pg-kill", 12, tmp_path, kill_on={5, 25, 45}, step_timeout=240,
                       check=lambda r: check(r, disruptions=3))


async def test_providers_failing_a_quarter_of_requests(tmp_path):
    await run_scenario("faults", 8, tmp_path, step_timeout=240, check=check)


async def test_sqlite_daemon_killed_the_instant_twilio_took_a_whatsapp_template_sends_none_twice(tmp_path):
    await run_scenario("whatsapp", 12, tmp_path, kill_on={3, 14, 26}, step_timeout=240,
                       check=lambda r: check(r, disruptions=3))
