"""Each carrier's real client code against the fake server: tokens, retries and typed errors."""

from datetime import timedelta

import aiohttp
import pytest

from tests.carriers.conftest import NUMBERS
from tests.fakes.carriers import deliver_journey
from tracker.carriers import CARRIERS
from tracker.carriers.base import AuthFailed, NotFoundYet, RateLimited, Status, Temporary, TrackingResult

TOKEN_CARRIERS = ["ups", "fedex", "usps", "correios"]


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def client(name, fake, http, clock, **extra):
    cls = CARRIERS[name]
    return cls(cls.Settings.model_validate(fake.settings(name, **extra)), http, clock)


@pytest.mark.parametrize("name", list(NUMBERS))
async def test_tracks_a_moving_parcel(name, fake, http, clock):
    number = NUMBERS[name]
    fake.add(name, number, deliver_journey())
    carrier = client(name, fake, http, clock)
    clock.advance(timedelta(hours=31))
    result = (await carrier.track([number]))[number]
    assert isinstance(result, TrackingResult)
    assert result.latest.status is Status.OUT_FOR_DELIVERY
    assert len(result.events) == 4


@pytest.mark.parametrize("name", list(NUMBERS))
async def test_unknown_number_is_not_found_yet(name, fake, http, clock):
    number = NUMBERS[name]
    result = await client(name, fake, http, clock).track([number])
    assert isinstance(result[number], NotFoundYet)


async def test_ups_not_found_as_404_is_not_found_yet(fake, http, clock):
    fake.carriers["ups"].not_found_as_404 = True
    result = await client("ups", fake, http, clock).track([NUMBERS["ups"]])
    assert isinstance(result[NUMBERS["ups"]], NotFoundYet)


@pytest.mark.parametrize("name", TOKEN_CARRIERS)
async def test_token_is_cached_until_it_expires(name, fake, http, clock):
    fake.carriers[name].token_ttl = 3600
    carrier = client(name, fake, http, clock)
    for _ in range(3):
        await carrier.track([NUMBERS[name]])
    assert fake.carriers[name].token_calls == 1
    clock.advance(timedelta(minutes=59, seconds=30))   # inside the safety margin: fetch a new one first
    await carrier.track([NUMBERS[name]])
    assert fake.carriers[name].token_calls == 2


@pytest.mark.parametrize("name", TOKEN_CARRIERS)
async def test_401_refreshes_the_token_once_then_succeeds(name, fake, http, clock):
    carrier = client(name, fake, http, clock)
    await carrier.track([NUMBERS[name]])
    fake.fail(name, "401")
    result = await carrier.track([NUMBERS[name]])
    assert isinstance(result[NUMBERS[name]], NotFoundYet)
    assert fake.carriers[name].token_calls == 2


@pytest.mark.parametrize("name", list(NUMBERS))
async def test_refused_credentials_raise_auth_failed(name, fake, http, clock):
    carrier = client(name, fake, http, clock)
    await carrier.track([NUMBERS[name]])
    fake.revoke(name)
    with pytest.raises(AuthFailed):
        await carrier.track([NUMBERS[name]])


@pytest.mark.parametrize("name", TOKEN_CARRIERS)
async def test_two_401_in_a_row_raise_auth_failed(name, fake, http, clock):
    fake.fail(name, "401", times=2)
    with pytest.raises(AuthFailed):
        await client(name, fake, http, clock).track([NUMBERS[name]])


@pytest.mark.parametrize("name", list(NUMBERS))
async def test_missing_credentials_say_which_setting(name, fake, http, clock):
    blank = {k: "" for k in fake.carriers[name].credentials}
    with pytest.raises(AuthFailed) as err:
        await client(name, fake, http, clock, **blank).track([NUMBERS[name]])
    assert "config.yaml" in str(err.value) and "${" in str(err.value)


@pytest.mark.parametrize("name", list(NUMBERS))
async def test_429_carries_retry_after(name, fake, http, clock):
    fake.fail(name, "429", retry_after="120")
    with pytest.raises(RateLimited) as err:
        await client(name, fake, http, clock).track([NUMBERS[name]])
    assert err.value.retry_after == 120


async def test_retry_after_as_http_date(fake, http, clock):
    when = clock.now() + timedelta(minutes=5)
    fake.fail("fedex", "429", retry_after=when.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    with pytest.raises(RateLimited) as err:
        await client("fedex", fake, http, clock).track([NUMBERS["fedex"]])
    assert err.value.retry_after == 300


@pytest.mark.parametrize("name", list(NUMBERS))
@pytest.mark.parametrize("fault", ["500", "503", "garbage", "html"])
async def test_server_errors_and_bad_bodies_are_temporary(name, fault, fake, http, clock):
    fake.fail(name, fault)
    with pytest.raises(Temporary):
        await client(name, fake, http, clock).track([NUMBERS[name]])


@pytest.mark.parametrize("name", list(NUMBERS))
async def test_timeout_is_temporary(name, fake, http, clock):
    carrier = client(name, fake, http, clock, timeout_seconds=0.2)
    await carrier.track([NUMBERS[name]])           # token first, so the timeout hits the tracking call
    fake.fail(name, "timeout", seconds=1.0)
    with pytest.raises(Temporary) as err:
        await carrier.track([NUMBERS[name]])
    assert "no answer" in str(err.value)


async def test_fedex_asks_for_30_numbers_in_one_call(fake, http, clock):
    numbers = [f"{n:012d}" for n in range(100000000000, 100000000030)]
    for n in numbers[:10]:
        fake.add("fedex", n, deliver_journey())
    clock.advance(timedelta(hours=3))
    result = await client("fedex", fake, http, clock).track(numbers)
    assert fake.carriers["fedex"].calls == 1 and len(result) == 30
    assert sum(isinstance(r, TrackingResult) for r in result.values()) == 10
    assert sum(isinstance(r, NotFoundYet) for r in result.values()) == 20


async def test_correios_batches_objects_in_one_call(fake, http, clock):
    fake.add("correios", "QB123456785BR", deliver_journey())
    clock.advance(timedelta(hours=3))
    result = await client("correios", fake, http, clock).track(["QB123456785BR", "PQ876543216ES"])
    assert fake.carriers["correios"].calls == 1
    assert isinstance(result["QB123456785BR"], TrackingResult)
    assert isinstance(result["PQ876543216ES"], NotFoundYet)


async def test_latency_within_the_timeout_is_fine_beyond_it_is_temporary(fake, http, clock):
    fake.carriers["fedex"].latency = 0.05
    carrier = client("fedex", fake, http, clock, timeout_seconds=0.5)
    assert isinstance((await carrier.track([NUMBERS["fedex"]]))[NUMBERS["fedex"]], NotFoundYet)
    fake.carriers["fedex"].latency = 0.8
    with pytest.raises(Temporary):
        await carrier.track([NUMBERS["fedex"]])
