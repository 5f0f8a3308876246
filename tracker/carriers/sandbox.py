"""A simulated carrier, so the whole flow runs with no account anywhere.

The journey is chosen by the tracking number, `SBX-<JOURNEY>-<suffix>`:

    DELIVER   label, pickup, hub, out for delivery, delivered (signed)
    FAILED    ... out for delivery, failed attempt, out for delivery again, delivered
    EXCEPTION ... picked up, held at customs (exception)
    PICKUP    ... failed attempt, available for pickup at a parcel shop, delivered (collected)
    LATE      like DELIVER but two days behind its first expected date
    WINDOW    like DELIVER, and out for delivery comes with a time window (14:00-16:00)
    SILENT    label and pickup, then nothing: the carrier goes quiet
    NOTFOUND  the carrier never learns the number

When the suffix is a Unix time (ten digits) the journey starts then; otherwise it starts the first time
this process asks about the number. With `base_url` set, the carrier asks a sandbox server over HTTP
(`GET {base_url}/v1/track?numbers=A,B`, see tests/fakes/sandbox_server.py) instead of simulating in
process: the multi-daemon tests and the benchmarks use it to put a real network call in the loop. `time_scale` is simulated seconds per real second: 3600 plays one
hour of the journey every second. The simulator builds a carrier-style payload and goes through the
same pure `parse()` as a real carrier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from pydantic import Field

from tracker.carriers.base import (
    Carrier,
    CarrierError,
    CarrierSettings,
    Invalid,
    NotFoundYet,
    RateLimited,
    Status,
    Temporary,
    TrackingEvent,
    TrackingResult,
)
from tracker.clock import SYSTEM, Clock

STATUS_MAP: dict[str, Status] = {
    "LC": Status.INFO_RECEIVED,
    "PU": Status.IN_TRANSIT,
    "AR": Status.IN_TRANSIT,
    "DP": Status.IN_TRANSIT,
    "OD": Status.OUT_FOR_DELIVERY,
    "FA": Status.FAILED_ATTEMPT,
    "PK": Status.AVAILABLE_FOR_PICKUP,
    "DL": Status.DELIVERED,
    "CH": Status.EXCEPTION,
}

# (simulated hours after start, code, text, location)
_Step = tuple[float, str, str, str]
_TAIL_DELIVER: list[_Step] = [
    (30, "OD", "Out for delivery", "Portland, OR, US"),
    (34, "DL", "Delivered, front door", "Portland, OR, US"),
]
_HEAD: list[_Step] = [
    (0, "LC", "Shipping label created", "Springfield, IL, US"),
    (2, "PU", "Picked up by carrier", "Springfield, IL, US"),
    (14, "AR", "Arrived at sort facility", "Chicago, IL, US"),
    (20, "DP", "Departed sort facility", "Chicago, IL, US"),
]
JOURNEYS: dict[str, dict[str, Any]] = {
    "DELIVER": {"steps": _HEAD + _TAIL_DELIVER, "eta_hours": 48, "signed_by": "J. DOE"},
    "FAILED": {
        "steps": _HEAD + [
            (30, "OD", "Out for delivery", "Portland, OR, US"),
            (34, "FA", "Delivery attempted, nobody home; we will try again tomorrow", "Portland, OR, US"),
            (50, "OD", "Out for delivery", "Portland, OR, US"),
            (54, "DL", "Delivered, handed to resident", "Portland, OR, US"),
        ],
        "eta_hours": 48, "signed_by": "M. SMITH",
    },
    "EXCEPTION": {
        "steps": _HEAD[:2] + [(16, "CH", "Held at customs: documents required", "Chicago, IL, US")],
        "eta_hours": 72,
    },
    "PICKUP": {
        "steps": _HEAD + [
            (30, "OD", "Out for delivery", "Portland, OR, US"),
            (34, "FA", "Delivery attempted, nobody home", "Portland, OR, US"),
            (36, "PK", "Ready for pickup until 7 days from now", "ParcelShop, 12 Oak St, Portland, OR"),
            (60, "DL", "Collected by recipient", "ParcelShop, 12 Oak St, Portland, OR"),
        ],
        "eta_hours": 48, "signed_by": "J. DOE", "pickup": "ParcelShop, 12 Oak St, Portland, OR",
    },
    "LATE": {
        "steps": _HEAD + [(80, "OD", "Out for delivery", "Portland, OR, US"),
                          (84, "DL", "Delivered, front door", "Portland, OR, US")],
        "eta_hours": 36, "late_eta_hours": 84, "signed_by": "J. DOE",
    },
    "WINDOW": {"steps": _HEAD + _TAIL_DELIVER, "eta_hours": 48, "signed_by": "J. DOE", "window": "14:00-16:00"},
    "SILENT": {"steps": _HEAD[:2], "eta_hours": 72},
    "NOTFOUND": {"steps": None},
}


class SandboxSettings(CarrierSettings):
    time_scale: float = Field(1.0, gt=0, description="simulated seconds per real second")


def journey_of(number: str) -> tuple[str, int | None]:
    """('DELIVER', 1764010000) for 'SBX-DELIVER-1764010000'. Raises Invalid for other numbers."""
    parts = number.strip().upper().split("-")
    if len(parts) < 2 or parts[0] != "SBX" or parts[1] not in JOURNEYS:
        raise Invalid(
            f"{number!r} is not a sandbox number; use SBX-<JOURNEY>-<id> with JOURNEY one of "
            + ", ".join(JOURNEYS)
        )
    suffix = parts[-1] if len(parts) > 2 else ""
    start = int(suffix) if suffix.isdigit() and len(suffix) == 10 else None
    return parts[1], start


def simulate(number: str, start: datetime, now: datetime, time_scale: float) -> dict[str, Any]:
    """The payload the sandbox 'server' answers for a number at `now`."""
    name, _ = journey_of(number)
    journey = JOURNEYS[name]
    if journey["steps"] is None:
        return {"number": number, "found": False}
    elapsed_hours = (now - start).total_seconds() * time_scale / 3600

    def at(hours: float) -> datetime:
        return start + timedelta(seconds=hours * 3600 / time_scale)

    events = [
        {"time": at(h).isoformat(), "code": code, "text": text, "location": loc}
        for h, code, text, loc in journey["steps"] if h <= elapsed_hours
    ]
    eta_hours = journey.get("eta_hours")
    if "late_eta_hours" in journey and elapsed_hours > journey["eta_hours"]:
        eta_hours = journey["late_eta_hours"]
    payload: dict[str, Any] = {"number": number, "found": True, "events": events,
                               "eta": at(eta_hours).date().isoformat() if eta_hours else None}
    if events and events[-1]["code"] == "DL":
        payload["signed_by"] = journey.get("signed_by")
    if events and events[-1]["code"] == "OD" and journey.get("window"):
        payload["window"] = journey["window"]
    if journey.get("pickup") and any(e["code"] == "PK" for e in events):
        payload["pickup"] = journey["pickup"]
        ready = next(h for h, code, *_ in journey["steps"] if code == "PK")
        payload["pickup_until"] = (at(ready) + timedelta(days=7)).date().isoformat()
    return payload


def parse(payload: dict[str, Any]) -> dict[str, TrackingResult | CarrierError]:
    """Pure: one sandbox reply -> normalized results."""
    out: dict[str, TrackingResult | CarrierError] = {}
    for item in payload.get("results", []):
        number = item["number"]
        if not item.get("found"):
            out[number] = NotFoundYet(f"{number} is not known to the carrier yet")
            continue
        events = []
        for raw in item["events"]:
            when = datetime.fromisoformat(raw["time"])
            offset = when.utcoffset()
            events.append(TrackingEvent(
                occurred_at=when.astimezone(timezone.utc),
                status=STATUS_MAP.get(raw["code"], Status.UNKNOWN),
                raw_code=raw["code"], raw_text=raw["text"], location=raw.get("location", ""),
                utc_offset_minutes=int(offset.total_seconds() // 60) if offset is not None else None,
            ))
        eta = item.get("eta")
        out[number] = TrackingResult(
            number=number, events=events,
            expected_delivery=datetime.fromisoformat(eta).date() if eta else None,
            signed_by=item.get("signed_by"), pickup_location=item.get("pickup"),
            pickup_until=datetime.fromisoformat(item["pickup_until"]).date() if item.get("pickup_until") else None,
            delivery_window=item.get("window"),
        )
    return out


class SandboxCarrier(Carrier):
    name = "sandbox"
    display_name = "Sandbox Express"
    Settings = SandboxSettings
    batch_size = 50
    rate_per_second = 1000.0

    def __init__(self, settings: SandboxSettings, session=None, clock: Clock = SYSTEM) -> None:
        super().__init__(settings, session, clock)
        self.first_seen: dict[str, datetime] = {}

    async def track(self, numbers: Sequence[str]) -> dict[str, TrackingResult | CarrierError]:
        if self.settings.base_url:
            return await self._track_remote(numbers)
        now = self.clock.now()
        results: list[dict[str, Any]] = []
        invalid: dict[str, CarrierError] = {}
        for number in numbers:
            try:
                _, start_epoch = journey_of(number)
            except Invalid as exc:
                invalid[number] = exc
                continue
            start = (datetime.fromtimestamp(start_epoch, timezone.utc) if start_epoch
                     else self.first_seen.setdefault(number, now))
            results.append(simulate(number, start, now, self.settings.time_scale))
        parsed = parse({"results": results})
        parsed.update(invalid)
        return parsed

    async def _track_remote(self, numbers: Sequence[str]) -> dict[str, TrackingResult | CarrierError]:
        url = f"{self.settings.base_url.rstrip('/')}/v1/track"
        try:
            async with self.session.get(url, params={"numbers": ",".join(numbers)},
                                        timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds)) as resp:
                if resp.status == 429:
                    raise RateLimited("sandbox server: 429", float(resp.headers.get("Retry-After", "1")))
                if resp.status >= 500:
                    raise Temporary(f"sandbox server: HTTP {resp.status}")
                payload = await resp.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise Temporary(f"sandbox server: {type(exc).__name__}") from exc
        return parse(payload)
