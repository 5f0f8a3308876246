"""Redaction for log lines and console output: never a full phone number or email address."""

from __future__ import annotations

import re
from urllib.parse import urlsplit


def phone(value: str | None) -> str:
    if not value:
        return "-"
    digits = value.lstrip("+")
    if len(digits) <= 4:
        return "+" + "•" * len(digits)
    return f"+{digits[:1]}{'•' * (len(digits) - 3)}{digits[-2:]}"


def email(value: str | None) -> str:
    if not value:
        return "-"
    local, _, domain = value.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def address(channel: str, value: str | None) -> str:
    return phone(value) if channel in ("sms", "whatsapp") else email(value)


# What a log line may carry by accident (a query's parameters or result rows at DEBUG, a library's dump):
_EMAIL = re.compile(r"[\w.%+-]+@+[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+\d[\d ().-]{5,}\d")
# tracking-page tokens, API keys and their hashes, session cookies: long runs of token characters (not all
# digits: a long tracking number stays readable)
_TOKEN = re.compile(r"(?=[0-9]*[A-Za-z_-])[A-Za-z0-9_-]{24,}")


# a password in a URL (postgresql://user:PASSWORD@host/db) and secret-looking query values (?password=...)
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:)[^\s/]*@")
_SECRET_QUERY = re.compile(r"(?i)([?&;](?:password|passwd|pwd|pass|secret|token|api_?key|key|sslpassword|auth)=)[^&\s]+")
MASK = "•••"


def credentials(value: str) -> str:
    """Text with every password in a URL and every secret query value masked: what `config check`, `init`,
    the run's first lines and every error print about a database or webhook address."""
    value = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + "@", value)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + MASK, value)


def text(value: str) -> str:
    """Any free text with every email address, phone number, URL password and long token in it masked."""
    value = credentials(value)
    value = _EMAIL.sub(lambda m: email(m.group()), value)
    value = _PHONE.sub(lambda m: phone(re.sub(r"[^\d+]", "", m.group())), value)
    return _TOKEN.sub(lambda m: m.group()[:4] + "…", value)


def origin(url: str) -> str:
    """scheme://host:port of a URL: the address a connection error names (no credentials, path or query,
    which may hold secrets, as a chat webhook's path does)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "(no address)"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "") if parts.scheme else host


def connect_reason(exc: BaseException) -> str:
    """Why a connection failed, shortly: the OS's reason when there is one (refused, name unknown...)."""
    os_error = exc if isinstance(exc, OSError) else getattr(exc, "os_error", None)
    if isinstance(os_error, OSError) and os_error.strerror:
        return os_error.strerror
    return type(exc).__name__
