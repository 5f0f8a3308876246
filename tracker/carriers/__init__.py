"""Carrier registry: one module per carrier, listed here explicitly."""

from tracker.carriers.base import Carrier, build_registry
from tracker.carriers.correios import CorreiosCarrier
from tracker.carriers.dhl import DHLCarrier
from tracker.carriers.fedex import FedExCarrier
from tracker.carriers.sandbox import SandboxCarrier
from tracker.carriers.ups import UPSCarrier
from tracker.carriers.usps import USPSCarrier

CARRIERS: dict[str, type[Carrier]] = build_registry(
    SandboxCarrier,
    UPSCarrier,
    FedExCarrier,
    USPSCarrier,
    DHLCarrier,
    CorreiosCarrier,
)
