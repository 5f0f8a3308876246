"""Shops as the connect tests and bench/backfill.py see them: the fake Shopify and WooCommerce seeded with
real-shaped orders of customers in PT, ES, GR, BR and US, and settings pointing tracker at them."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.helpers import make_settings

SHOPIFY_SECRET = "shpss_webhook_secret_of_the_app"
WOO_SECRET = "woo-webhook-secret-0123456789"
PUBLIC = "https://track.casa-azul.example"

# (name, email, phone as the shop has it, country, locale)
CUSTOMERS = [
    ("Ana Conceição", "ana.conceicao@example.pt", "+351 912 345 678", "PT", "pt-PT"),
    ("Jorge Muñoz", "jorge.munoz@example.es", "+34 612 34 56 78", "ES", "es"),
    ("Eleni Papadopoulou", "eleni.p@example.gr", "+30 691 234 5678", "GR", "el"),
    ("João Araújo", "joao.araujo@example.com.br", "+55 11 91234-5678", "BR", "pt-BR"),
    ("Mary O'Neil", "mary.oneil@example.com", "+1 (415) 555-0133", "US", "en"),
]


def shop_settings(tmp_path, fake_shopify=None, fake_woo=None, **extra):
    sections = {
        "server": {"enabled": False, "port": 0, "public_url": PUBLIC},
        "intake": {"shopify_secret": SHOPIFY_SECRET, "woocommerce_secret": WOO_SECRET,
                   "carrier_aliases": {"Sandbox": "sandbox", "Sandbox Express": "sandbox"}},
    }
    if fake_shopify is not None:
        sections["shopify"] = {"shop": "casa-azul.myshopify.com", "access_token": "shpat_fake_static_token",
                               "base_url": fake_shopify.url}
    if fake_woo is not None:
        sections["woocommerce"] = {"url": fake_woo.url, "consumer_key": "ck_fake", "consumer_secret": "cs_fake"}
    from tests.helpers import deep_merge

    return make_settings(tmp_path, **deep_merge(sections, extra))


def seed_shopify(fake, now: datetime) -> dict[str, str]:
    """A month of a shop's orders, one of each kind per customer; returns order name -> what it is."""
    kinds: dict[str, str] = {}
    n = 1000
    for i, (_, email, phone, country, locale) in enumerate(CUSTOMERS):
        def order(kind, **kw):
            nonlocal n
            n += 1
            kinds[str(n)] = kind
            return fake.add_order(name=f"#{n}", email=email, phone=phone, locale=locale, country=country,
                                  address_phone=phone, **kw)
        order("waiting", created=now - timedelta(days=2 + i))
        order("in transit", created=now - timedelta(days=5 + i), fulfillments=[
            {"company": "Sandbox", "numbers": [f"SBX-DELIVER-{n + 1}"], "url": "https://carrier.example/t"}])
        order("delivered", created=now - timedelta(days=9 + i), fulfillments=[
            {"company": "Sandbox", "numbers": [f"SBX-DELIVER-{n + 1}"], "display": "DELIVERED"}])
        order("unpaid", created=now - timedelta(days=3 + i), financial="PENDING")
        order("cancelled", created=now - timedelta(days=4 + i), cancelled=True)
        order("too old", created=now - timedelta(days=45 + i))
        order("shipped untracked", created=now - timedelta(days=7 + i), fulfillments=[{"company": None, "numbers": []}])
    # one order in two parcels, one of them delivered already
    n += 1
    kinds[str(n)] = "two parcels, one moving"
    fake.add_order(name=f"#{n}", email="duas@example.pt", phone=None, locale="pt-PT", country="PT",
                   created=now - timedelta(days=6), fulfillments=[
                       {"company": "Sandbox", "numbers": [f"SBX-DELIVER-{n}A"], "display": "DELIVERED"},
                       {"company": "Sandbox Express", "numbers": [f"SBX-SILENT-{n}B"]}])
    return kinds


def seed_woocommerce(fake, now: datetime) -> None:
    for i, (_, email, phone, country, _) in enumerate(CUSTOMERS):
        fake.add_order(created=now - timedelta(days=1 + i), status="processing", email=email, phone=phone,
                       country=country)
        fake.add_order(created=now - timedelta(days=3 + i), status="completed", email=email, phone=phone,
                       country=country, tracking=[("Sandbox", f"SBX-DELIVER-W{i}")])
        fake.add_order(created=now - timedelta(days=4 + i), status="completed", email=email, phone=phone,
                       country=country)  # shipped without tracking data: a parcel nobody can track
        fake.add_order(created=now - timedelta(days=2 + i), status="on-hold", email=email, phone=phone,
                       country=country)  # awaiting payment: not asked for
        fake.add_order(created=now - timedelta(days=40 + i), status="processing", email=email, phone=phone,
                       country=country)  # older than the backfill
