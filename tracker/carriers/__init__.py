"""Carrier registry: one module per carrier, listed here explicitly."""

from tracker.carriers.base import Carrier, build_registry
from tracker.carriers.sandbox import SandboxCarrier

CARRIERS: dict[str, type[Carrier]] = build_registry(
    SandboxCarrier,
)
