"""Forms read once, before any handler: a body that is not a well-formed form (bytes that are not UTF-8, an
unknown charset, a broken multipart body, a file where none is asked for) answers 400 naming the fix,
never a traceback. aiohttp keeps the parsed form, so handlers' own `request.post()` gets it as read here."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("tracker.web")

# Routes that read forms: the support console, the preferences and unsubscribe pages, the rating links
# and Twilio's webhooks. Routes that read a raw body (API, pushes, shop and SendGrid webhooks) are left alone.
FORM_ROUTES = ("/support", "/p/", "/u/", "/rate/", "/webhooks/twilio/")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
FIX = "send the form as UTF-8 text (application/x-www-form-urlencoded or multipart/form-data), without files"


@web.middleware
async def forms_middleware(request: web.Request, handler):
    if request.method == "POST" and request.path.startswith(FORM_ROUTES) and request.content_type in FORM_TYPES:
        try:
            form = await request.post()
            problem = next((f"field {k!r} is a file" for k, v in form.items() if not isinstance(v, str)), None)
        except (ValueError, LookupError, HttpProcessingError) as exc:  # UnicodeDecodeError is a ValueError
            problem = f"not a readable form ({type(exc).__name__})"
        if problem:
            log.debug("refused a malformed form on %s: %s", request.path, problem)
            return web.Response(status=400, text=f"form: {problem}. Fix: {FIX}.\n")
    return await handler(request)
