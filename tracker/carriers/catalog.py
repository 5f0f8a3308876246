"""The carriers shops in Brazil, Spain, Greece and the US ship with, and how each aggregator names them. Pure data.

A shipment's `carrier` is always the company that carries the parcel (its display name is what the
customer reads); the *source* that tells us about it (a direct module, an aggregator, a carrier's own
push) is chosen by config (tracker/routing.py). Aggregators need the carrier in their own vocabulary:

- 17TRACK: numeric carrier keys, each checked against 17TRACK's carrier list
  (res.17track.net/asset/carrier/info/apicarrier.all.json: name, country and web address all match the
  company). Total Express is not in that list (`None`): 17TRACK auto-detects it, or a shop sets
  `carriers.17track.carrier_codes`. ELTA (Hellenic Post, the `RR…GR` numbers) and ELTA Courier (its
  courier arm, own numbers) are two companies there and here.
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
    CarrierInfo("jadlog", "Jadlog", "BR", 101052, "jadlog"),
    CarrierInfo("loggi", "Loggi", "BR", 100457, "loggi"),
    CarrierInfo("total-express", "Total Express", "BR", None, "total-express"),
    # Spain
    CarrierInfo("correos-es", "Correos", "ES", 19181, "spain-correos-es", None, "UPU S10 ..ES, check digit"),
    CarrierInfo("correos-express", "Correos Express", "ES", 100048),
    CarrierInfo("seur", "SEUR", "ES", 100438, "spanish-seur"),
    CarrierInfo("mrw", "MRW", "ES", 100175, "mrw-spain"),
    CarrierInfo("gls-es", "GLS Spain", "ES", 100189, "gls-spain"),
    # Greece
    CarrierInfo("elta", "ELTA Hellenic Post", "GR", 7071, None, None, "UPU S10 ..GR, check digit"),
    CarrierInfo("elta-courier", "ELTA Courier", "GR", 100179, "elta-courier"),
    CarrierInfo("acs", "ACS Courier", "GR", 100070, "acscourier"),
    CarrierInfo("geniki", "Geniki Taxydromiki", "GR", 100224, "taxydromiki"),
    CarrierInfo("speedex", "Speedex", "GR", 100315, "speedexcourier"),
    CarrierInfo("boxnow", "BOX NOW", "GR", 101008, "boxnow"),
    CarrierInfo("sandbox", "Sandbox", "INT", detection="SBX-..."),
)}

# Other spellings of catalog names (shops, older detection rules): name -> catalog name.
ALIASES: dict[str, str] = {
    "correos": "correos-es", "correos-spain": "correos-es", "hellenic-post": "elta", "acs-courier": "acs",
    "correosexpress": "correos-express", "elta-hellenic-post": "elta",
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
