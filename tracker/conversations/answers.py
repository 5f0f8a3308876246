"""The words of automatic answers, in the customer's language (texts: in keywords/<language>.yaml). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from tracker.config import Settings
from tracker.models import Order, Shipment
from tracker.notify.render import localized_date
from tracker.notify.segments import pick
from tracker.shops.links import tracking_url

MAX_LISTED = 5
FINISHED = ("delivered", "expired")


@dataclass
class OrderState:
    order: Order
    shipments: list[Shipment]

    @property
    def open(self) -> bool:
        if self.order.cancelled_at is not None:
            return False
        return not self.shipments or any(s.status not in FINISHED and s.stopped_at is None for s in self.shipments)

    def delivered(self) -> Shipment | None:
        done = [s for s in self.shipments if s.status == "delivered"]
        return max(done, key=lambda s: s.delivered_at or s.updated_at) if done else None


def language(locale: str | None, texts_by_language: dict) -> str:
    tag = (locale or "").replace("_", "-")
    if tag in texts_by_language:
        return tag
    base = tag.split("-")[0]
    return next((lang for lang in texts_by_language if lang.split("-")[0] == base), "en")


def _line(settings: Settings, texts: dict, state: OrderState, lang: str, today: date, key: str) -> str:
    steps = texts.get("steps", {})
    order = state.order
    if order.cancelled_at is not None:
        return texts[key].format(shop=settings.shop.name, number=order.number, step=steps.get("cancelled", "cancelled"),
                                 expected="", link=tracking_url(settings, order, None)).strip()
    if not state.shipments:
        return texts[key].format(shop=settings.shop.name, number=order.number, step=steps.get("preparing", ""),
                                 expected="", link=tracking_url(settings, order, None)).strip()
    # the parcel furthest from done speaks for the order
    ship = next((s for s in state.shipments if s.status not in FINISHED), state.shipments[-1])
    expected = ""
    if ship.status not in FINISHED and ship.expected_delivery and ship.expected_delivery >= today:
        expected = texts["expected"].format(date=localized_date(ship.expected_delivery, lang))
    return texts[key].format(shop=settings.shop.name, number=order.number, step=steps.get(ship.status, ship.status),
                             expected=expected, link=tracking_url(settings, order, ship)).strip()


def status_text(settings: Settings, texts: dict, states: list[OrderState], lang: str, today: date,
                listed: int = MAX_LISTED) -> str:
    """The live step, expected date and page link of each open order (the latest one when none is open),
    the `listed` most recent of them."""
    shown = [s for s in states if s.open] or states[:1]
    if len(shown) == 1 or listed == 1:
        return _line(settings, texts, shown[0], lang, today, "status_one")
    lines = [texts["status_many"].format(shop=settings.shop.name)]
    lines += ["- " + _line(settings, texts, s, lang, today, "status_line") for s in shown[:listed]]
    return "\n".join(lines)


def sms_status_text(settings: Settings, texts: dict, states: list[OrderState], lang: str, today: date) -> str:
    """The status answer within the language's SMS budget (sms.max_segments_by_locale): fewer orders listed
    when the whole list would take more segments."""
    return pick([status_text(settings, texts, states, lang, today, n) for n in (MAX_LISTED, 3, 2, 1)],
                settings.sms.budget(lang))


def ask_text(settings: Settings, texts: dict) -> str:
    """To a sender tracker cannot match: the order number and the email or phone, please. Never order data."""
    return texts["ask"].format(shop=settings.shop.name)


def case_text(settings: Settings, texts: dict, lang: str, order_number: str | None) -> str:
    hours = settings.shop.contact(lang).hours
    return texts["case"].format(
        shop=settings.shop.name, about=texts["about"].format(number=order_number) if order_number else "",
        hours=texts["hours"].format(hours=hours) if hours else "")


def subject_text(texts: dict, order_number: str | None, their_subject: str | None) -> str:
    if their_subject:
        return their_subject if their_subject.lower().startswith("re:") else f"Re: {their_subject}"
    return texts["support_subject"].format(number=order_number or "")
