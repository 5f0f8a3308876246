"""The durable push inbox: a verified push is stored and answered 200 at once, applied behind.

    /webhooks/sources/<s> -> verify -> parse (400 if malformed) -> stale? (403) -> receive(): one INSERT
        stored    -> 200 {"stored": true}
        known     -> 200 {"duplicate": true}   (an honest retry of an event already received)
        not now   -> 503 + Retry-After         (SQLite locked, PostgreSQL away: the source retries)
    InboxDrain (any daemon): claim the oldest pending row of each shipment's key (SKIP LOCKED on
    PostgreSQL) -> the same matching and the same persist() (apply() and ONE transaction, the event id
    recorded in it) -> applied; a failure is retried with backoff, then kept as `failed` with an alert.

`store.py` holds the receiving side (the web layer calls it), `drain.py` the applying side (the daemon's
loop). Both share the `push_inbox` table (tracker/models.py PushInbox).
"""
