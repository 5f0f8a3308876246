"""Which page a message links: tracker's own page of the parcel (/t/<token>), or, when the shop chose it
(shopify.message_link: order_status) and tracker knows it, the shop's own order status page."""

from __future__ import annotations

from tracker.config import Settings
from tracker.orders import NOT_TRACKABLE


def tracking_url(settings: Settings, order, ship) -> str:
    """The link of a message about `ship` of `order` (ship None: news before shipping, no page of tracker's)."""
    if settings.shopify.message_link == "order_status" and getattr(order, "status_url", None):
        return order.status_url
    if ship is None:  # before it ships: the order's own page (tracker/web/order_page.py)
        token = getattr(order, "public_token", None)
        return f"{settings.server.public_url.rstrip('/')}/o/{token}" if token else ""
    if getattr(ship, "status", None) == NOT_TRACKABLE and getattr(ship, "tracking_url", None):
        return ship.tracking_url  # nobody tracks it: the shop's own link is the one that says anything
    return f"{settings.server.public_url.rstrip('/')}/t/{ship.public_token}"
