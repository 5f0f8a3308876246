"""Config sections owned by components: each carrier under `carriers:` and each provider under
`providers:` is validated by the settings model its module declares, at start-up, with the file:line of
the bad key. This lives beside the registries (not in config.py) so that config imports no carrier or
channel, and carriers and channels never import config."""

from __future__ import annotations

import os

from tracker.carriers import CARRIERS
from tracker.carriers.catalog import CATALOG, canonical
from tracker.config import ConfigError, Settings, dotted, load_settings, validate_part
from tracker.notify import CHANNELS


def load(path: str | os.PathLike | None = None, *, text: str | None = None) -> Settings:
    """Read, validate and check a config file's components. Raises ConfigError naming the key and fix."""
    return check(load_settings(path, text=text))


def check(settings: Settings) -> Settings:
    """Validate each configured carrier and provider with its own settings model. Returns `settings`."""
    where = settings.where

    for name, raw in settings.carriers.items():
        if name not in CARRIERS:
            raise ConfigError(
                f"{where(('carriers', name))}: carriers.{name}: unknown carrier. "
                f"Fix: use one of {', '.join(sorted(CARRIERS))}."
            )
        validate_part(CARRIERS[name].Settings, raw or {}, ("carriers", name), where)
    check_sources(settings)
    for name, raw in settings.providers.items():
        if name not in CHANNELS:
            raise ConfigError(
                f"{where(('providers', name))}: providers.{name}: unknown provider. "
                f"Fix: use one of {', '.join(sorted(CHANNELS))}."
            )
        provider = validate_part(CHANNELS[name].Settings, raw or {}, ("providers", name), where)
        timeout = getattr(provider, "timeout_seconds", None)
        lease = settings.dispatcher.lease_seconds
        if timeout is not None and lease / 2 <= timeout:
            # the dispatcher bounds a send by half the lease: a slower provider reply would be cut off
            # before its outcome is known, and the message sent again
            raise ConfigError(
                f"{where(('dispatcher', 'lease_seconds'))}: dispatcher.lease_seconds ({lease:g}) must be more "
                f"than twice providers.{name}.timeout_seconds ({timeout:g}), or a slow reply is cut off and the "
                f"message sent twice. Fix: raise dispatcher.lease_seconds above {2 * timeout:g} or lower "
                f"providers.{name}.timeout_seconds.")
    for kind in ("sms", "email", "whatsapp"):
        if getattr(settings.channels, kind) is None:
            continue
        provider = getattr(settings.channels, kind).provider
        loc = ("channels", kind, "provider")
        if provider not in CHANNELS or kind not in CHANNELS[provider].kinds:
            able = sorted(n for n, c in CHANNELS.items() if kind in c.kinds)
            raise ConfigError(
                f"{where(loc)}: {dotted(loc)}: {provider!r} cannot send {kind}. Fix: use one of {', '.join(able)}."
            )
        if provider not in settings.providers:
            raise ConfigError(
                f"{where(loc)}: {dotted(loc)}: provider {provider!r} has no settings. "
                f"Fix: add a `{provider}:` entry under providers:."
            )
    return settings


def check_sources(settings: Settings) -> None:
    """`sources:` names configured sources and known carriers; the default route is an aggregator."""
    where = settings.where
    configured = sorted(n for n in settings.carriers if n in CARRIERS)
    for carrier, source in settings.sources.routes.items():
        loc = ("sources", "routes", carrier)
        if canonical(carrier) not in CATALOG and carrier not in CARRIERS:
            raise ConfigError(f"{where(loc)}: {dotted(loc)}: unknown carrier {carrier!r}. "
                              f"Fix: use one of {', '.join(sorted(CATALOG))}.")
        if source not in configured:
            raise ConfigError(f"{where(loc)}: {dotted(loc)}: source {source!r} is not configured. "
                              f"Fix: add `{source}:` under carriers:, or route to one of {', '.join(configured)}.")
        if source != canonical(carrier) and not CARRIERS[source].aggregator:
            raise ConfigError(f"{where(loc)}: {dotted(loc)}: {source!r} tracks only its own parcels. "
                              f"Fix: route {carrier} to an aggregator (17track, aftership, easypost).")
    default = settings.sources.default
    if default is not None:
        loc = ("sources", "default")
        aggregators = sorted(n for n in configured if CARRIERS[n].aggregator)
        if default not in aggregators:
            raise ConfigError(f"{where(loc)}: {dotted(loc)}: {default!r} is not a configured aggregator. "
                              f"Fix: configure 17track, aftership or easypost under carriers: and name it here"
                              f"{' (configured: ' + ', '.join(aggregators) + ')' if aggregators else ''}.")


def whatsapp_template_gaps(settings: Settings) -> list[str]:
    """One line per milestone without an approved WhatsApp template in some language: those messages
    go out by the order's next channel (SMS, then email) instead. Empty when WhatsApp is not set up."""
    from tracker.notify.render import TEMPLATES
    from tracker.notify.whatsapp import missing_templates
    from tracker.status import Milestone

    route = settings.channels.whatsapp
    if route is None or route.provider not in CHANNELS:
        return []
    cfg = CHANNELS[route.provider].Settings.model_validate(settings.providers.get(route.provider) or {})
    templates = getattr(cfg, "templates", None)
    if templates is None:
        return []
    locales = sorted(d.name for d in TEMPLATES.iterdir() if d.is_dir() and not d.name.startswith("_"))
    loc = ("providers", route.provider, "templates")
    return [f"{settings.where(loc)}: {dotted(loc)}: no WhatsApp template for {milestone} in {', '.join(langs)}; "
            f"those messages go by SMS or email instead. Fix: add {dotted(loc)}.{milestone}.{langs[0]}: HX... "
            f"(an approved template's Content SID)"
            for milestone, langs in missing_templates(templates, [m.value for m in Milestone], locales).items()]
