"""Connecting a shop: Shopify and WooCommerce.

- payloads.py   pure: a platform's order or fulfillment (webhook body, REST or GraphQL) -> registration items
- versions.py   which state of a shop resource was applied (a replay or an older state is never applied again)
- intake.py     register items and their version in one transaction (webhooks and backfill alike)
- shopify.py    the GraphQL Admin API: tokens (static or client credentials, refreshed), cost-based throttling,
                webhook subscriptions, the orders of the last N days
- woocommerce.py the REST API v3: webhooks, the orders of the last N days (X-WP-TotalPages)
- connect.py    `tracker shopify connect` / `tracker woocommerce connect`: webhooks + backfill + what the
                merchant must still switch off
- links.py      which page a message links: tracker's, or the shop's own order status page
"""
