"""Carrier registry: one module per tracking source (a carrier's own API, or an aggregator), listed here
explicitly. Which source serves which carrier is config (`sources:`, tracker/routing.py)."""

from tracker.carriers.aftership import AfterShipCarrier
from tracker.carriers.base import Carrier, build_registry
from tracker.carriers.correios import CorreiosCarrier
from tracker.carriers.dhl import DHLCarrier
from tracker.carriers.easypost import EasyPostCarrier
from tracker.carriers.fedex import FedExCarrier
from tracker.carriers.sandbox import SandboxCarrier
from tracker.carriers.seventeentrack import SeventeenTrackCarrier
from tracker.carriers.ups import UPSCarrier
from tracker.carriers.usps import USPSCarrier

CARRIERS: dict[str, type[Carrier]] = build_registry(
    SandboxCarrier,
    UPSCarrier,
    FedExCarrier,
    USPSCarrier,
    DHLCarrier,
    CorreiosCarrier,
    SeventeenTrackCarrier,
    AfterShipCarrier,
    EasyPostCarrier,
)
