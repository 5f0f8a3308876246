"""Which source tells us about a carrier's parcels: config `sources:` over the registered modules. Pure.

    1. `sources.routes[carrier]`, when the shop routes that carrier explicitly (e.g. ups: 17track);
    2. the carrier's own module, when it is configured under `carriers:` (ups, fedex, correios...);
    3. `sources.default` (an aggregator), for every other carrier: Correos, ACS, Jadlog...
A shipment keeps its carrier (the company the customer knows) and stores its source beside it.
"""

from __future__ import annotations

from tracker.carriers import CARRIERS
from tracker.carriers.catalog import ALIASES, AUTO, CATALOG, canonical
from tracker.carriers.detect import NATIONAL_POSTS
from tracker.config import Settings


def direct_carriers(settings: Settings) -> list[str]:
    """Configured modules that are carriers themselves (not aggregators)."""
    return [n for n in settings.carriers if n in CARRIERS and not CARRIERS[n].aggregator]


def source_for(settings: Settings, carrier: str) -> str | None:
    carrier = canonical(carrier)
    routes = {canonical(k): v for k, v in settings.sources.routes.items()}
    if carrier in routes:
        return routes[carrier]
    if carrier in direct_carriers(settings):
        return carrier
    if carrier != "sandbox" and settings.sources.default:
        return settings.sources.default
    return None


def accepted_carriers(settings: Settings) -> list[str]:
    """Carrier names a registration may use (aliases included, so detected names pass)."""
    names = direct_carriers(settings) + [canonical(c) for c in settings.sources.routes]
    if settings.sources.default:
        names += [n for n in CATALOG if n != "sandbox"] + [AUTO] + list(NATIONAL_POSTS.values())
    names += [alias for alias, target in ALIASES.items() if target in names]
    return list(dict.fromkeys(names))


def pushes(settings: Settings, source: str) -> bool:
    """True when `source` is configured to push (aggregator webhooks, UPS Track Alert...)."""
    cls = CARRIERS.get(source)
    if cls is None or source not in settings.carriers:
        return False
    return cls(cls.Settings.model_validate(settings.carriers[source] or {})).pushes


def router(settings: Settings):
    """The `route` callable orders.validate() takes: carrier -> (source, first check delay). A pushed
    shipment is first polled only as a safety check, when its pushes would be overdue."""
    quiet = settings.sources.push_quiet_hours.pending

    def route(carrier: str) -> tuple[str, float | None] | None:
        source = source_for(settings, carrier)
        if source is None:
            return None
        return source, (quiet * 3600 if quiet and pushes(settings, source) else None)

    return route
