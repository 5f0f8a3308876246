"""Conversations: what customers write back by SMS, WhatsApp and email, recorded with their orders;
status questions answered at once, everything else a case a person answers on the customer's channel.

    inbound.py     a message in: clean, record, understand, answer or open a case (`receive`)
    understand.py  rules and keyword tables per language (keywords/<language>.yaml)
    answers.py     the words of automatic answers
    cases.py       `open_case`, `close_case`, open cases by age
    replies.py     our answers through the outbox (automatic and support's)
    support.py     support answers and the conversation of an order, for the console, the API and the CLI
"""

from tracker.conversations.cases import CaseError, close_case, open_case, open_case_now

__all__ = ["CaseError", "close_case", "open_case", "open_case_now"]
