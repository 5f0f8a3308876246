"""Which carrier issued a tracking number: formats and check digits. Pure.

Formats (numbers are read without spaces or dashes, upper case), with their check digits:
    UPS     1Z + 6 shipper + 2 service + 7 package + check (mod 10, weights 1,2; letters (ord-63) mod 10);
            waybill A/H/J/K/T/V + 9 digits + check (same rule); Mail Innovations MI + 6-digit mailer id +
            the mailer's package id (up to 22 letters or digits, no check digit)
    FedEx   Express 12 digits (weights 1,3,7 from the right, mod 11, mod 10); Express 34-digit barcode and
            Ground GSN 34 digits (96...) (the same rule on the last 14 digits); ASTRA 32 digits (3 + 15, the
            same rule on digits 17-28, 4 trailing digits); Ground 15 digits and Ground 96 22 digits (GS1
            mod 10 on the last 15); SSCC-18 (GS1 mod 10); Ground Economy (SmartPost) 20 digits: an IMpb
            printed without its 92 (service 3 + mailer 9 starting with 9 + 7, checked with the 92 put back)
            and 92 + service 612 + mailer + package (22 digits): FedEx first, USPS also tracks it
    USPS    IMpb: 9[1-5] + 20, 24 or 28 digits (22/26/30 in all) with the GS1 mod 10 check, optionally behind
            the routing prefix 420 + ZIP (5 or 9 digits); a 92 IMpb needs a 9-digit mailer id starting
            with 9, a 93 one a 6-digit mailer id that does not; legacy 20 digits (checked as they are or with 91 in
            front; also behind 420 + ZIP)
    DHL     Express 10 or 11 digits (check = the others mod 7); piece numbers JJD + 10 or 17-20 digits,
            JVGL, JD + 18, 3S... (JJD/JD + 16 digits are Yodel's);
            eCommerce GM/LX/RX/UV/CN/SG/TH/IN/HK/MY + 10-39 digits, and 14 digits (no check digit);
            Parcel DE 00 + SSCC of Deutsche Post DHL (00340...: GS1 mod 10)
    UPU S10 AA + 8 serial digits + check (weights 8,6,4,2,3,5,9,7, mod 11) + an ISO 3166 country code that
            names the issuing post (BR Correios, ES Correos, GR ELTA, US USPS, DE DHL; others post-xx)
Every fit is a candidate with a strength: a format with a distinctive shape and a check digit is
stronger than bare digits with a check digit, which are stronger than a shape without one. `choose`
takes the strongest configured candidate and asks for the carrier only when two carriers tie, counting
the bare-digit formats of couriers without a module (Purolator 12, Old Dominion 11 digits, Luhn): a
FedEx-valid 12-digit number that is also a valid Purolator number is asked about, not claimed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tracker.carriers.countries import ISO_COUNTRIES

# S10 country suffix -> the carrier that tracks that post's items.
NATIONAL_POSTS: dict[str, str] = {
    "BR": "correios",
    "ES": "correos",
    "PT": "ctt",
    "GR": "elta",
    "US": "usps",
    "DE": "dhl",
}
DISPLAY = {"ups": "UPS", "fedex": "FedEx", "usps": "USPS", "dhl": "DHL", "correios": "Correios (Brazil)",
           "correos": "Correos (Spain)", "ctt": "CTT (Portugal)", "elta": "ELTA (Greece)", "sandbox": "Sandbox", "purolator": "Purolator",
           "old-dominion": "Old Dominion"}

# Strengths of a fit.
DISTINCT = 3  # a shape only this carrier uses, and a check digit
CHECKED = 2   # bare digits that pass this carrier's check digit
SHAPE = 1     # a shape without a check digit
# FedEx Ground Economy (SmartPost) labels are USPS IMpbs with this service type code.
SMARTPOST_SERVICE = "612"


@dataclass(frozen=True, slots=True)
class Match:
    carrier: str
    kind: str
    strength: int = DISTINCT


def clean(number: str) -> str:
    return re.sub(r"[\s\-]", "", number or "").upper()


def gs1_mod10(digits: str) -> int:
    """Check digit for `digits` (without it): weights 3,1,3,... from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def gs1_valid(digits: str) -> bool:
    return digits.isdigit() and gs1_mod10(digits[:-1]) == int(digits[-1])


def ups_mod10(body: str) -> int:
    values = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in body]
    total = sum(v * (2 if i % 2 else 1) for i, v in enumerate(values))
    return (10 - total % 10) % 10


def ups_valid(number: str) -> bool:
    return bool(re.fullmatch(r"1Z[0-9A-Z]{15}\d", number)) and ups_mod10(number[2:17]) == int(number[17])


def fedex_mod11(digits: str) -> bool:
    """FedEx Express: weights 1,3,7 from the rightmost data digit, sum mod 11 mod 10."""
    weights = (1, 3, 7)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(digits[:-1])))
    return total % 11 % 10 == int(digits[-1])


def fedex_express_valid(number: str) -> bool:
    return bool(re.fullmatch(r"\d{12}", number)) and fedex_mod11(number)


def fedex_ground_valid(number: str) -> bool:
    if re.fullmatch(r"96\d{20}", number):
        number = number[7:]
    return bool(re.fullmatch(r"\d{15}", number)) and gs1_valid(number)


def _impb_pic_ok(pic: str) -> bool:
    """An IMpb package id code (Pub 199): application identifier, mailer id shape, length, check digit."""
    if len(pic) not in (22, 26, 30) or not re.fullmatch(r"9[1-5]\d+", pic) or not gs1_valid(pic):
        return False
    mid9 = pic[5] == "9"
    ai = pic[:2]
    if ai == "92":
        return mid9 and len(pic) in (22, 26)
    if ai == "93":
        return not mid9 and len(pic) in (22, 26)
    if ai in ("91", "95"):
        return len(pic) in (22, 26)
    return True  # 94: a source id before the mailer id, 22/26/30 digits


def _routings(number: str) -> list[tuple[str, str]]:
    """(ZIP, package id) readings of a number: bare, or behind 420 + ZIP (9 digits tried first). An
    all-zero ZIP routes nowhere, so it gives no reading."""
    if not number.startswith("420"):
        return [("", number)]
    readings = [(number[3:12], number[12:]), (number[3:8], number[8:])]
    return [(zip_code, pic) for zip_code, pic in readings if zip_code.strip("0")]


def impb_digits(number: str) -> str | None:
    """The valid IMpb package id inside `number` (without a 420+ZIP routing prefix), else None."""
    if not number.isdigit():
        return None
    for _zip, pic in _routings(number):
        if _impb_pic_ok(pic):
            return pic
    return None


def usps_legacy_valid(number: str) -> bool:
    """20-digit USPS numbers: the GS1 check on the 20 digits, or with the 91 application identifier put
    in front (Certified, Registered... labels print it without)."""
    if not number.isdigit():
        return False
    for _zip, pic in _routings(number):
        if len(pic) != 20:
            continue
        if gs1_valid(pic) or gs1_valid("91" + pic):
            return True
    return False


def smartpost_20_valid(number: str) -> bool:
    """FedEx Ground Economy's 20 printed digits: an IMpb without its 92, checked with the 92 put back."""
    return bool(re.fullmatch(r"\d{3}9\d{16}", number)) and gs1_valid("92" + number)


def sscc18_valid(number: str) -> bool:
    return bool(re.fullmatch(r"\d{18}", number)) and number.strip("0") != "" and gs1_valid(number)


def dhl_parcel_de_valid(number: str) -> bool:
    """DHL Paket (Germany): 00 + an SSCC-18 of Deutsche Post DHL's GS1 company prefix (340...)."""
    return bool(re.fullmatch(r"00340\d{15}", number)) and gs1_valid(number[2:])


def dhl_express_valid(number: str) -> bool:
    return bool(re.fullmatch(r"\d{10,11}", number)) and int(number[:-1]) % 7 == int(number[-1])


def s10_check(serial: str) -> int:
    total = sum(int(d) * w for d, w in zip(serial, (8, 6, 4, 2, 3, 5, 9, 7)))
    check = 11 - total % 11
    return 0 if check == 10 else 5 if check == 11 else check


def s10_country(number: str) -> str | None:
    """'BR' for a valid S10 number such as DG049186226BR (a real country, right check digit), else None."""
    m = re.fullmatch(r"([A-Z]{2})(\d{8})(\d)([A-Z]{2})", number)
    if not m or s10_check(m.group(2)) != int(m.group(3)) or m.group(4) not in ISO_COUNTRIES:
        return None
    return m.group(4)


def _numeric(n: str) -> list[Match]:
    out: list[Match] = []
    length = len(n)
    pic = impb_digits(n)
    if pic is not None:
        if length == 22 and pic.startswith("92" + SMARTPOST_SERVICE):
            out.append(Match("fedex", "FedEx Ground Economy (SmartPost, IMpb)", DISTINCT + 1))
        out.append(Match("usps", "USPS IMpb" + (" (behind 420 + ZIP)" if pic != n else ""), DISTINCT))
        return out
    if length == 34 and not n.startswith("420") and fedex_mod11(n[-14:]):  # 420...: a USPS routing barcode
        out.append(Match("fedex", "FedEx Ground GSN (34 digits)" if n.startswith("96") else
                         "FedEx Express (34-digit barcode)", DISTINCT))
    if length == 32 and n.startswith("3") and fedex_mod11(n[16:28]):
        out.append(Match("fedex", "FedEx ASTRA (32 digits)", DISTINCT))
    if length == 22 and n.startswith("96") and fedex_ground_valid(n):
        out.append(Match("fedex", "FedEx Ground 96 (22 digits)", DISTINCT))
    if length == 20:
        if dhl_parcel_de_valid(n):
            out.append(Match("dhl", "DHL Parcel DE (00340... SSCC)", DISTINCT))
        elif smartpost_20_valid(n):
            out.append(Match("fedex", "FedEx Ground Economy (SmartPost, 20 digits)", CHECKED))
        elif usps_legacy_valid(n):
            out.append(Match("usps", "USPS (20 digits)", CHECKED))
    if length in (26, 28, 30, 32) and n.startswith("420") and usps_legacy_valid(n):
        out.append(Match("usps", "USPS (20 digits behind 420 + ZIP)", DISTINCT))
    if fedex_express_valid(n):
        out.append(Match("fedex", "FedEx Express (12 digits)", CHECKED))
    if length == 15 and fedex_ground_valid(n):
        out.append(Match("fedex", "FedEx Ground (15 digits)", CHECKED))
    if sscc18_valid(n):
        out.append(Match("fedex", "FedEx Ground (SSCC-18)", CHECKED))
    if dhl_express_valid(n):
        out.append(Match("dhl", f"DHL Express ({length} digits)", CHECKED))
    if length == 14:
        out.append(Match("dhl", "DHL eCommerce (14 digits)", SHAPE))
    return out


def detect(number: str) -> list[Match]:
    """Every carrier format `number` fits, check digits verified, strongest first."""
    n = clean(number)
    out: list[Match] = []
    if n.startswith("SBX"):
        out.append(Match("sandbox", "sandbox journey"))
    if n.isdigit() and n.strip("0"):  # all zeros: a placeholder, never a parcel
        out += _numeric(n)
    if ups_valid(n):
        out.append(Match("ups", "UPS 1Z"))
    if re.fullmatch(r"[AHJKTV]\d{10}", n) and ups_mod10(n[1:10]) == int(n[10]):
        out.append(Match("ups", "UPS waybill", CHECKED))
    country = s10_country(n)
    if country:
        carrier = NATIONAL_POSTS.get(country)
        out.append(Match(carrier or f"post-{country.lower()}", f"UPU S10 ({country})"))
    elif re.fullmatch(r"MI\d{6}[0-9A-Z]{1,22}", n):
        out.append(Match("ups", "UPS Mail Innovations", SHAPE))
    # JJD/JD + 16 digits are Yodel's (UK), not DHL's
    if re.fullmatch(r"(JJD\d{10}|JJD\d{17,20}|JVGL\d{10,20}|JD\d{18}|3S[A-Z]{4}\d{7,10})", n):
        out.append(Match("dhl", "DHL piece number", SHAPE))
    if re.fullmatch(r"(GM|LX|RX|UV|CN|SG|TH|IN|HK|MY)\d{10,39}", n):
        out.append(Match("dhl", "DHL eCommerce", SHAPE))
    return sorted(out, key=lambda m: -m.strength)


def candidates(number: str) -> list[str]:
    """Carriers `number` may belong to, strongest fit first."""
    return list(dict.fromkeys(m.carrier for m in detect(number)))


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        v = int(d) * (2 if i % 2 else 1)
        total += v - 9 if v > 9 else v
    return total % 10 == 0


def rivals(number: str) -> list[Match]:
    """Bare-digit formats of couriers tracker has no module for, whose check digits `number` also passes:
    such a number is not claimed for our carrier on digits alone."""
    n = clean(number)
    out: list[Match] = []
    if re.fullmatch(r"[0-5]\d{11}", n) and luhn_valid(n):
        out.append(Match("purolator", "Purolator (12 digits)", CHECKED))
    if re.fullmatch(r"(77[78]|072)\d{8}|80\d{9}", n) and luhn_valid(n):
        out.append(Match("old-dominion", "Old Dominion PRO (11 digits)", CHECKED))
    return out


def best(number: str, configured: Iterable[str] | None = None) -> list[str]:
    """The carriers of the strongest fit (among `configured`, when given): one, or several that tie,
    a courier of `rivals` included when it fits as strongly."""
    allowed = None if configured is None else set(configured)
    matches = [m for m in detect(number) if allowed is None or m.carrier in allowed]
    if not matches:
        return []
    top = matches[0].strength
    tied = [m for m in matches if m.strength == top] + [m for m in rivals(number) if m.strength >= top]
    return list(dict.fromkeys(m.carrier for m in tied))


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
    usable = best(number, configured)
    if len(usable) == 1:
        return usable[0]
    if len(usable) > 1:
        ours = [c for c in usable if c in configured]
        hint = "" if ours == usable else f" (tracker has no module for {_names(c for c in usable if c not in ours)})"
        raise Undetected(f"{number} could belong to {_names(usable)}{hint}",
                         f"say which carrier: one of {', '.join(ours)}", usable)
    if found:
        raise Undetected(f"{number} looks like a {_names(found)} number, but that carrier is not configured",
                         f"configure it under carriers: in config.yaml, or give the carrier (one of "
                         f"{', '.join(configured)})", found)
    raise Undetected(f"the carrier of {number} cannot be told from its format (or its check digit is wrong)",
                     f"check the number, or give the carrier: one of {', '.join(configured)}", [])
