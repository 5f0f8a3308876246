"""Which carrier issued a tracking number: formats and check digits. Pure.

Formats (with their check digits):
    UPS         1Z + 6 shipper + 2 service + 7 package + 1 check (letters count as (ord-63) mod 10)
    FedEx       12 digits (Express, weights 1,3,7 from the right, mod 11), 15 digits (Ground, mod 10),
                22 digits starting 96 (Ground 96, mod 10 on the last 15), 20/22 digits starting 92 (SmartPost,
                handed to USPS: same as a USPS IMpb)
    USPS        IMpb: 20-22 digits (optionally behind a 420+ZIP prefix), GS1 mod 10 on all digits
    DHL         Express: 10 digits, check = first 9 mod 7; JJD/JVGL/3S piece numbers (no check digit)
    UPU S10     AA123456789BR: 8 serial digits + check (weights 8,6,4,2,3,5,9,7, mod 11), country suffix gives
                the national post (BR Correios, ES Correos, GR ELTA, US USPS, DE DHL)
A number can fit several formats (a 20-digit SmartPost number is also a USPS IMpb): every fit is a
candidate and the caller asks for the carrier when more than one is configured.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# S10 country suffix -> the carrier that tracks that post's items.
NATIONAL_POSTS: dict[str, str] = {
    "BR": "correios",
    "ES": "correos",
    "GR": "elta",
    "US": "usps",
    "DE": "dhl",
}
DISPLAY = {"ups": "UPS", "fedex": "FedEx", "usps": "USPS", "dhl": "DHL", "correios": "Correios (Brazil)",
           "correos": "Correos (Spain)", "elta": "ELTA (Greece)", "sandbox": "Sandbox"}


@dataclass(frozen=True, slots=True)
class Match:
    carrier: str
    kind: str


def clean(number: str) -> str:
    return re.sub(r"[\s\-]", "", number or "").upper()


def gs1_mod10(digits: str) -> int:
    """Check digit for `digits` (without it): weights 3,1,3,... from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def ups_valid(number: str) -> bool:
    if not re.fullmatch(r"1Z[0-9A-Z]{16}", number):
        return False
    body, check = number[2:17], number[17]
    if not check.isdigit():
        return False
    values = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in body]
    total = sum(v * (2 if i % 2 else 1) for i, v in enumerate(values))
    return (10 - total % 10) % 10 == int(check)


def fedex_express_valid(number: str) -> bool:
    if not re.fullmatch(r"\d{12}", number):
        return False
    weights = [1, 3, 7]  # from the rightmost data digit
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(number[:11])))
    return total % 11 % 10 == int(number[11])


def fedex_ground_valid(number: str) -> bool:
    if re.fullmatch(r"96\d{20}", number):
        number = number[7:]
    if not re.fullmatch(r"\d{15}", number):
        return False
    return gs1_mod10(number[:14]) == int(number[14])


def impb_digits(number: str) -> str | None:
    """The IMpb itself, without a 420+ZIP(5 or 9) routing prefix."""
    m = re.fullmatch(r"420(?:\d{9}|\d{5})(\d{20,22})", number)
    if m:
        return m.group(1)
    return number if re.fullmatch(r"\d{20,22}", number) else None


def usps_impb_valid(number: str) -> bool:
    digits = impb_digits(number)
    return digits is not None and gs1_mod10(digits[:-1]) == int(digits[-1])


def dhl_express_valid(number: str) -> bool:
    return bool(re.fullmatch(r"\d{10}", number)) and int(number[:9]) % 7 == int(number[9])


def s10_check(serial: str) -> int:
    total = sum(int(d) * w for d, w in zip(serial, (8, 6, 4, 2, 3, 5, 9, 7)))
    check = 11 - total % 11
    return 0 if check == 10 else 5 if check == 11 else check


def s10_country(number: str) -> str | None:
    """'BR' for a valid S10 number such as DG049186226BR, else None."""
    m = re.fullmatch(r"([A-Z]{2})(\d{8})(\d)([A-Z]{2})", number)
    if not m or s10_check(m.group(2)) != int(m.group(3)):
        return None
    return m.group(4)


def detect(number: str) -> list[Match]:
    """Every carrier format `number` fits, check digits verified."""
    n = clean(number)
    out: list[Match] = []
    if n.startswith("SBX"):
        out.append(Match("sandbox", "sandbox journey"))
    if ups_valid(n):
        out.append(Match("ups", "UPS 1Z"))
    if fedex_express_valid(n):
        out.append(Match("fedex", "FedEx Express (12 digits)"))
    if fedex_ground_valid(n):
        out.append(Match("fedex", "FedEx Ground"))
    if usps_impb_valid(n):
        out.append(Match("usps", "USPS IMpb"))
        if (impb_digits(n) or "").startswith("92"):
            out.append(Match("fedex", "FedEx SmartPost (delivered by USPS)"))
    if dhl_express_valid(n):
        out.append(Match("dhl", "DHL Express (10 digits)"))
    if re.fullmatch(r"(JJD\d{16,20}|JVGL\d{10,20}|3S[A-Z]{4}\d{7,10}|JD\d{18})", n):
        out.append(Match("dhl", "DHL piece number"))
    country = s10_country(n)
    if country:
        carrier = NATIONAL_POSTS.get(country)
        out.append(Match(carrier or f"post-{country.lower()}", f"UPU S10 ({country})"))
    return out


def candidates(number: str) -> list[str]:
    return list(dict.fromkeys(m.carrier for m in detect(number)))


class Undetected(ValueError):
    """The carrier cannot be told from the number; `problem` and `fix` are phrased for the operator."""

    def __init__(self, problem: str, fix: str, candidates: list[str]) -> None:
        super().__init__(f"{problem}. Fix: {fix}.")
        self.problem, self.fix, self.candidates = problem, fix, candidates


def _names(carriers: Iterable[str]) -> str:
    return ", ".join(f"{DISPLAY.get(c, c)} ({c})" if c in DISPLAY else c for c in carriers)


def choose(number: str, configured: Iterable[str]) -> str:
    """The one configured carrier `number` belongs to, or Undetected naming the candidates."""
    configured = list(configured)
    found = candidates(number)
    usable = [c for c in found if c in configured]
    if len(usable) == 1:
        return usable[0]
    if len(usable) > 1:
        raise Undetected(f"{number} could belong to {_names(usable)}",
                         f"say which carrier: one of {', '.join(usable)}", usable)
    if found:
        raise Undetected(f"{number} looks like a {_names(found)} number, but that carrier is not configured",
                         f"configure it under carriers: in config.yaml, or give the carrier (one of "
                         f"{', '.join(configured)})", found)
    raise Undetected(f"the carrier of {number} cannot be told from its format (or its check digit is wrong)",
                     f"check the number, or give the carrier: one of {', '.join(configured)}", [])
