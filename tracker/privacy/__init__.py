"""Personal data on request and over its lifetime.

- parts.py     what tracker holds of a person, table by table: each Part exports it and erases it. The one
               list PARTS is the seam: a module that keeps more of a person (conversations: inbound
               messages) adds its Part there, and export, erase on request, Shopify's privacy webhooks
               and the automatic erasure after privacy.erase_contact_after_days all cover it.
- requests.py  `tracker privacy export|erase <email|phone>` and Shopify's customers/data_request,
               customers/redact and shop/redact: find the person's orders, export or erase, and record
               each request for audit (privacy_requests: who asked, how, when, what was done; the person
               only as a keyed hash of what identified them).
"""
