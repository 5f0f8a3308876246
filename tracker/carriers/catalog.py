"""The carriers shops in Brazil, Spain, Greece and the US ship with, and how each aggregator names them. Pure data.

A shipment's `carrier` is always the company that carries the parcel (its display name is what the
customer reads); the *source* that tells us about it (a direct module, an aggregator, a carrier's own
push) is chosen by config (tracker/routing.py). Aggregators need the carrier in their own vocabulary:

- 17TRACK: numeric carrier keys. Keys marked `None` were not confirmed in a public 17TRACK carrier list;
  for those 17TRACK auto-detects the carrier, or a shop sets `carriers.17track.carrier_codes`.
  Confirmed keys: 17TRACK's carrier list (postal keys 2151 Correios, 19181 Correos, 7071 ELTA, 21051 USPS;
  express keys 100001 DHL, 100002 UPS, 100003 FedEx, 100005 GLS).
- AfterShip: courier slugs (`POST /trackings` takes none: AfterShip detects the courier).
- EasyPost: carrier strings (`POST /trackers` without one: EasyPost detects).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CarrierInfo:
    name: str
    display: str
    market: str  # BR, ES, GR, US, or INT
    seventeen: int | None = None
    aftership: str | None = None
    easypost: str | None = None
    detection: str = "given by the shop (carrier field, or intake.carrier_aliases)"
    needs_contract: str = ""  # what a direct module needs, when there is one


CATALOG: dict[str, CarrierInfo] = {c.name: c for c in (
    # United States (and worldwide express)
    CarrierInfo("ups", "UPS", "US", 100002, "ups", "UPS", "1Z + 16, waybill, Mail Innovations MI; check digits"),
    CarrierInfo("fedex", "FedEx", "US", 100003, "fedex", "FedEx", "12/15/18/20/22/32/34 digits, check digits"),
    CarrierInfo("usps", "USPS", "US", 21051, "usps", "USPS", "IMpb 22/26/30 digits (420+ZIP), legacy 20; S10 ..US"),
    CarrierInfo("dhl", "DHL", "INT", 100001, "dhl", "DHLExpress", "10/11 digits mod 7; JJD/JVGL pieces; GM; 00340"),
    # Brazil
    CarrierInfo("correios", "Correios", "BR", 2151, "brazil-correios", None, "UPU S10 ..BR, check digit"),
    CarrierInfo("jadlog", "Jadlog", "BR", None, "jadlog"),
    CarrierInfo("loggi", "Loggi", "BR", None, "loggi"),
    CarrierInfo("total-express", "Total Express", "BR", None, "total-express"),
    # Spain
    CarrierInfo("correos-es", "Correos", "ES", 19181, "spain-correos-es", None, "UPU S10 ..ES, check digit"),
    CarrierInfo("seur", "SEUR", "ES", None, "spanish-seur"),
    CarrierInfo("mrw", "MRW", "ES", None, "mrw-spain"),
    CarrierInfo("gls-es", "GLS Spain", "ES", 100005, "gls-spain"),
    # Greece
    CarrierInfo("elta", "ELTA Courier", "GR", 7071, "elta-courier", None, "UPU S10 ..GR, check digit"),
    CarrierInfo("acs", "ACS Courier", "GR", None, "acscourier"),
    CarrierInfo("geniki", "Geniki Taxydromiki", "GR", None, "taxydromiki"),
    CarrierInfo("speedex", "Speedex", "GR", None, "speedexcourier"),
    CarrierInfo("boxnow", "BOX NOW", "GR", None, "boxnow"),
    CarrierInfo("sandbox", "Sandbox", "INT", detection="SBX-..."),
)}

# Other spellings of catalog names (shops, older detection rules): name -> catalog name.
ALIASES: dict[str, str] = {
    "correos": "correos-es", "correos-spain": "correos-es", "elta-courier": "elta", "acs-courier": "acs",
    "acscourier": "acs", "box-now": "boxnow", "total": "total-express", "totalexpress": "total-express",
    "geniki-taxydromiki": "geniki", "taxydromiki": "geniki", "gls": "gls-es", "gls-spain": "gls-es",
}

# A carrier the shop did not name and no rule recognises: the aggregator detects it.
AUTO = "auto"


_DISPLAYS = {info.display.lower(): info.name for info in CATALOG.values()} | {"correos": "correos-es"}


def canonical(name: str) -> str:
    """A catalog name for what a shop may write: the name itself, an alias, or the display name
    ("ACS Courier", "Total Express")."""
    name = " ".join((name or "").split()).lower()
    return ALIASES.get(name) or _DISPLAYS.get(name) or name


def display_name(name: str) -> str:
    info = CATALOG.get(canonical(name))
    return info.display if info else name


def by_code(field: str, code: object) -> str | None:
    """The catalog name an aggregator's carrier code stands for (17TRACK key, AfterShip slug...)."""
    if code in (None, ""):
        return None
    for info in CATALOG.values():
        value = getattr(info, field)
        if value is not None and str(value).lower() == str(code).lower():
            return info.name
    return None
