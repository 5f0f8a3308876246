from __future__ import annotations

import pytest

from tests.fakes.carriers import fake_carriers

# Valid numbers (check digits right) for each carrier, used across these tests.
NUMBERS = {
    "ups": "1Z4W8E1Y0369451279",
    "fedex": "123456789012",
    "usps": "9400111899223100001113",
    "dhl": "1234567806",
    "correios": "QB123456785BR",
}

HOURLY = {"poller": {"jitter": 0, "intervals": {k: 3600 for k in (
    "pending", "info_received", "in_transit", "out_for_delivery", "available_for_pickup", "failed_attempt",
    "exception")}}}


@pytest.fixture
async def fake(clock):
    """The fake carrier server on 127.0.0.1, on the test's fake clock."""
    async with fake_carriers(clock) as server:
        yield server
