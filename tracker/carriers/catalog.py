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

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path


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

# The names shops type, in a data file (carriers shops in BR, ES, PT, GR, US and the EU ship with).
NAMES_FILE = Path(__file__).with_name("data") / "carrier_names.csv"
# Words a name may end with that do not change the company ("ACS Courier", "CTT Expresso", "Seur S.A.")
SUFFIXES = {"express", "expresso", "expres", "courier", "couriers", "sa", "sl", "slu", "ltda", "ltd", "inc", "llc",
            "gmbh", "spa", "srl", "bv", "co", "company", "transportes", "logistics", "logistica", "delivery"}


def normalise(name: str) -> str:
    """A name as the alias table compares it: accents, case, punctuation and spacing ignored."""
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold().replace("&", "").replace(".", "")
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def _stripped(key: str) -> str:
    words = key.split()
    while len(words) > 1 and words[-1] in SUFFIXES:
        words.pop()
    return " ".join(words)


def _load_names(path: Path) -> dict[str, str]:
    """Read the data file: new carriers go into CATALOG; returns normalised alias -> carrier."""
    table: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        for row in rows:
            name = row["carrier"].strip()
            if name not in CATALOG:
                if not row["display"]:
                    raise ValueError(f"{path.name}: carrier {name!r} is new and needs a display name")
                CATALOG[name] = CarrierInfo(name, row["display"].strip(), row["market"].strip() or "INT",
                                            int(row["seventeen"]) if row["seventeen"].strip() else None,
                                            row["aftership"].strip() or None, row["easypost"].strip() or None)
            for alias in [name, *row["aliases"].split("|")]:
                key = normalise(alias)
                if key and table.setdefault(key, name) != name:
                    raise ValueError(f"{path.name}: {alias!r} names both {table[key]} and {name}")
    for info in CATALOG.values():  # a display name is an alias where no row says otherwise ("GLS": gls-es)
        table.setdefault(normalise(info.display), info.name)
    return table


NAMES: dict[str, str] = _load_names(NAMES_FILE)
_DISPLAYS = {info.display.lower(): info.name for info in CATALOG.values()} | {"correos": "correos-es"}


def resolve(name: str | None, extra: dict[str, str] | None = None) -> str | None:
    """The catalog carrier a shop's text names ("CTT Expresso" -> ctt, "Γενική Ταχυδρομική" -> geniki),
    or None when no alias matches. `extra`: the shop's own aliases (intake.carrier_aliases), first."""
    key = normalise(name or "")
    if not key:
        return None
    for table in ({normalise(k): v for k, v in (extra or {}).items()}, NAMES):
        if key in table:
            return table[key]
        if _stripped(key) in table:
            return table[_stripped(key)]
    return None


# Group names a shop types bare ("DPD", "GLS", "InPost") whose national companies are tracked apart: the
# parcel's destination country picks the company (dpd + PT -> dpd-pt), where the table has one.
GROUPS = {"dpd": "dpd", "inpost": "inpost", "gls-es": "gls", "gls-group": "gls"}


def for_country(carrier: str, countries: tuple[str, ...]) -> str:
    """The national company of a group carrier for the parcel's destination (the first of `countries`)."""
    if carrier not in GROUPS or not countries:
        return carrier
    code = {"GB": "uk"}.get(countries[0], countries[0].lower())
    return f"{GROUPS[carrier]}-{code}" if f"{GROUPS[carrier]}-{code}" in CATALOG else carrier


def canonical(name: str) -> str:
    """A catalog name for what a shop may write: the name itself, an alias, or the display name
    ("ACS Courier", "Total Express")."""
    name = " ".join((name or "").split()).lower()
    return ALIASES.get(name) or _DISPLAYS.get(name) or (name if name in CATALOG else resolve(name)) or name


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
