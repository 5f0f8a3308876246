"""Config sections owned by components: each carrier under `carriers:` and each provider under
`providers:` is validated by the settings model its module declares, at start-up, with the file:line of
the bad key. This lives beside the registries (not in config.py) so that config imports no carrier or
channel, and carriers and channels never import config."""

from __future__ import annotations

import os
import re

from tracker.carriers import CARRIERS
from tracker.carriers.catalog import CATALOG, canonical
from tracker.config import ConfigError, Settings, dotted, is_local, load_settings, public_url_problems, validate_part
from tracker.notify import CHANNELS

# Keys that hold a credential, in a carrier's or a provider's settings: given empty, every call fails.
SECRET_KEY = re.compile(r"(secret|token|password|api_?key|access_code|credential|client_id|username|account_sid)$")
KIND_LABEL = {"sms": "SMS", "email": "email", "whatsapp": "WhatsApp"}


def load(path: str | os.PathLike | None = None, *, text: str | None = None) -> Settings:
    """Read, validate and check a config file's components. Raises ConfigError naming the key and fix."""
    return check(load_settings(path, text=text))


def check(settings: Settings) -> Settings:
    """Validate each configured carrier and provider with its own settings model. Returns `settings`;
    raises one ConfigError with every problem found."""
    where = settings.where
    problems: list[str] = []

    def collect(fn, *args) -> None:
        try:
            fn(*args)
        except ConfigError as exc:
            problems.extend(exc.problems)

    for name, raw in settings.carriers.items():
        if name not in CARRIERS:
            problems.append(
                f"{where(('carriers', name))}: carriers.{name}: unknown carrier. "
                f"Fix: use one of {', '.join(sorted(CARRIERS))}."
            )
            continue
        collect(validate_part, CARRIERS[name].Settings, raw or {}, ("carriers", name), where)
        if (raw or {}).get("enabled", True) is not False:
            problems.extend(empty_secrets(settings, "carriers", name, raw or {}))
    collect(check_sources, settings)
    for name, raw in settings.providers.items():
        if name not in CHANNELS:
            problems.append(
                f"{where(('providers', name))}: providers.{name}: unknown provider. "
                f"Fix: use one of {', '.join(sorted(CHANNELS))}."
            )
            continue
        empty = empty_secrets(settings, "providers", name, raw or {})
        try:
            provider = validate_part(CHANNELS[name].Settings, raw or {}, ("providers", name), where)
        except ConfigError as exc:
            named = [f"providers.{name}.{key}" for key in raw or {} if any(f"providers.{name}.{key} " in e for e in empty)]
            problems.extend(empty + [p for p in exc.problems if not any(f"{n}:" in p for n in named)])
            continue
        problems.extend(empty)
        timeout = getattr(provider, "timeout_seconds", None)
        lease = settings.dispatcher.lease_seconds
        if timeout is not None and lease / 2 <= timeout:
            # the dispatcher bounds a send by half the lease: a slower provider reply would be cut off
            # before its outcome is known, and the message sent again
            problems.append(
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
            problems.append(
                f"{where(loc)}: {dotted(loc)}: {provider!r} cannot send {kind}. Fix: use one of {', '.join(able)}."
            )
        elif provider not in settings.providers:
            problems.append(
                f"{where(loc)}: {dotted(loc)}: provider {provider!r} has no settings. "
                f"Fix: add a `{provider}:` entry under providers:."
            )
    if settings.conversations.keywords_dir:
        from tracker.conversations.understand import check_tables, keywords_dir

        loc = ("conversations", "keywords_dir")
        problems.extend(f"{where(loc)}: {p}. Fix: give a folder of en.yaml, pt-BR.yaml, es.yaml or el.yaml files "
                        "written like tracker/conversations/keywords/" for p in check_tables(keywords_dir(settings)))
    if not problems:
        problems.extend(public_url_problems(settings, *sending_kinds(settings))[0])
    if problems:
        raise ConfigError(problems)
    return settings


def empty_secrets(settings: Settings, section: str, name: str, raw: dict) -> list[str]:
    """A credential given but empty (`auth_token: ""`, or `${VAR:-}` with VAR unset) passes every type check
    and fails at the first send, or, for a key that signs webhooks, would accept anyone's signature: refused
    for every configured provider (each is built and checks its webhooks) and every enabled carrier."""
    out = []
    for key, value in raw.items():
        if SECRET_KEY.search(str(key)) and isinstance(value, str) and not value.strip():
            loc = (section, name, key)
            out.append(f"{settings.where(loc)}: {dotted(loc)} is empty, so {name} cannot work. Fix: write "
                       f"${{VARIABLE}} and export the {key.replace('_', ' ')} there before starting tracker, "
                       f"or remove the `{name}:` entry if you do not use it.")
    return out


def sending_kinds(settings: Settings) -> tuple[list[str], list[str]]:
    """(kinds of message that go out through a provider, not the console; those of them sent through the
    real service, not a test server on this machine), as "SMS", "email", "WhatsApp"."""
    sending, real = [], []
    for kind in ("sms", "email", "whatsapp"):
        route = getattr(settings.channels, kind)
        if route is None or route.provider == "console" or route.provider not in CHANNELS:
            continue
        sending.append(KIND_LABEL[kind])
        try:
            cfg = CHANNELS[route.provider].Settings.model_validate(settings.providers.get(route.provider) or {})
        except ValueError:
            continue
        base = getattr(cfg, "base_url", None)
        if base is not None and not is_local(base):
            real.append(KIND_LABEL[kind])
    return sending, real


def public_url_warnings(settings: Settings) -> list[str]:
    """What `config check` and the daemon's first lines warn about server.public_url (errors stop both)."""
    return public_url_problems(settings, *sending_kinds(settings))[1]


def check_sources(settings: Settings) -> None:
    """`sources:` names configured sources and known carriers; the default route is an aggregator."""
    where = settings.where
    problems: list[str] = []
    configured = sorted(n for n in settings.carriers if n in CARRIERS)
    for carrier, source in settings.sources.routes.items():
        loc = ("sources", "routes", carrier)
        if canonical(carrier) not in CATALOG and carrier not in CARRIERS:
            problems.append(f"{where(loc)}: {dotted(loc)}: unknown carrier {carrier!r}. "
                            f"Fix: use one of {', '.join(sorted(CATALOG))}.")
        elif source not in configured:
            problems.append(f"{where(loc)}: {dotted(loc)}: source {source!r} is not configured. "
                            f"Fix: add `{source}:` under carriers:, or route to one of {', '.join(configured)}.")
        elif source != canonical(carrier) and not CARRIERS[source].aggregator:
            problems.append(f"{where(loc)}: {dotted(loc)}: {source!r} tracks only its own parcels. "
                            f"Fix: route {carrier} to an aggregator (17track, aftership, easypost).")
    default = settings.sources.default
    if default is not None:
        loc = ("sources", "default")
        aggregators = sorted(n for n in configured if CARRIERS[n].aggregator)
        if default not in aggregators:
            problems.append(f"{where(loc)}: {dotted(loc)}: {default!r} is not a configured aggregator. "
                            f"Fix: configure 17track, aftership or easypost under carriers: and name it here"
                            f"{' (configured: ' + ', '.join(aggregators) + ')' if aggregators else ''}.")
    if problems:
        raise ConfigError(problems)


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
            for milestone, langs in missing_templates(templates, [m.value for m in Milestone] + (
                ["support_reply"] if settings.conversations.enabled else []), locales).items()]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours (1 to 21)."""
    def lum(hex_colour: str) -> float:
        rgb = [int(hex_colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _darker_until(colour: str, against: str, ratio: float) -> str:
    """`colour` darkened step by step until it reaches `ratio` against `against`: a fix to suggest."""
    rgb = [int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)]
    for _ in range(100):
        candidate = "#" + "".join(f"{c:02x}" for c in rgb)
        if contrast(candidate, against) >= ratio:
            return candidate
        rgb = [max(0, int(c * 0.93)) for c in rgb]
    return "#000000"


def colour_warnings(settings: Settings) -> list[str]:
    """Shop colours below WCAG AA (4.5:1) on the emails and pages that use them, each with the colour to fix."""
    c, out = settings.shop.colors, []
    pairs = [("primary", c.primary, "#ffffff", "links and the progress bar on the white cards"),
             ("on_primary", c.on_primary, c.primary, "button text on shop.colors.primary"),
             ("background", "#1d2433", c.background, "text on shop.colors.background")]
    for name, fg, bg, where in pairs:
        ratio = contrast(fg, bg)
        if ratio < 4.5:
            best = "#ffffff" if contrast("#ffffff", c.primary) >= contrast("#000000", c.primary) else "#000000"
            fix = (f"use a darker shop.colors.primary such as {_darker_until(c.primary, '#ffffff', 4.5)}"
                   if name == "primary" else f"set shop.colors.on_primary to {best}" if name == "on_primary"
                   else "use a lighter shop.colors.background such as #f6f7f9")
            out.append(f"shop.colors.{name} {fg if name != 'background' else bg}: {where} reach {ratio:.1f}:1, "
                       f"below WCAG AA 4.5:1. Fix: {fix}.")
    return out
