"""What the pushing sources share: signature comparison, reading a webhook body, and one JSON call."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from collections.abc import Callable, Mapping
from typing import ClassVar

from tracker.carriers.base import AuthFailed, Carrier, Temporary
from tracker.carriers.catalog import by_code
from tracker.carriers.oauth import call


def same(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a signature we computed with the one the request carries."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace"))


def hmac_sha256(secret: str | bytes, body: bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).digest()


def verify_header(headers: Mapping[str, str], name: str, secret: str, setting: str,
                  expected: Callable[[], str]) -> str | None:
    """None when header `name` carries `expected()`; else why not (naming the setting, never the secret)."""
    if not secret:
        return f"{setting} is not set"
    given = header(headers, name)
    if not given:
        return f"no {name} header"
    return None if same(expected(), given) else f"the {name} header does not match"


class Aggregator(Carrier):
    """A source that tracks many carriers: registered numbers are pushed to us (unless `push: false`)."""

    aggregator = True
    code_field: ClassVar[str]  # the catalog column holding this aggregator's carrier codes

    @property
    def pushes(self) -> bool:
        return self.settings.push

    def carrier_of(self, code: str | None) -> str | None:
        return by_code(self.code_field, code)


def json_object(body: bytes, source: str) -> dict[str, Any]:
    """A webhook body as a JSON object, or ValueError saying what is wrong with it."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError(f"{source}: the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError(f"{source}: the body is not a JSON object")
    return data


def header(headers, name: str) -> str | None:
    """A header by name, whatever its case (aiohttp's headers are case-insensitive, plain dicts are not)."""
    value = headers.get(name)
    if value is None:
        for key, v in headers.items():
            if key.lower() == name.lower():
                return v
    return value


async def json_call(carrier: Carrier, method: str, path: str, *, label: str, **kwargs: Any) -> tuple[int, Any]:
    """One request to the source's API with the carrier's timeout; 401/403 become AuthFailed."""
    status, body = await call(carrier.session, method, f"{carrier.base}{path}", carrier=label,
                              timeout=carrier.settings.timeout_seconds, now=carrier.clock.now(), **kwargs)
    if status in (401, 403):
        raise AuthFailed(f"{label}: the API key was refused (HTTP {status}); check carriers.{carrier.name}.api_key")
    if body is None and status != 204:
        raise Temporary(f"{label}: empty reply (HTTP {status})")
    return status, body
