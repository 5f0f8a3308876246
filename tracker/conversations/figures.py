"""Conversations in numbers: the /metrics families (every daemon on the database) and `tracker report`'s share
of questions answered without a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from tracker.conversations.cases import delivery_problems
from tracker.db import sessionmaker
from tracker.models import Case, Conversation, ConversationMessage

CHANNELS = ("sms", "whatsapp", "email")


def _family(name: str, kind: str, help: str, samples: list) -> tuple:  # the fields of tracker.gauges.Family
    return name, kind, help, samples


async def families(engine) -> list[tuple]:
    """(name, kind, help, samples) of each family, for tracker.gauges."""
    M = ConversationMessage
    async with sessionmaker(engine)() as s:
        received = dict((await s.execute(select(Conversation.channel, func.count()).join(
            M, M.conversation_id == Conversation.id).where(M.direction == "in").group_by(Conversation.channel))).all())
        auto = (await s.execute(select(func.count()).where(M.direction == "in", M.answered.is_(True)))).scalar_one()
        opened = (await s.execute(select(func.count()).select_from(Case))).scalar_one()
        still_open = (await s.execute(select(func.count()).where(Case.state == "open"))).scalar_one()
        answer_sum, answer_count = (await s.execute(select(func.coalesce(func.sum(Case.first_answer_seconds), 0),
                                                           func.count(Case.first_answer_seconds)))).one()
    return [
        _family("tracker_conversation_messages_received", "gauge", "Messages customers wrote to us, by channel.",
               [({"channel": c}, received.get(c, 0)) for c in sorted({*CHANNELS, *received})]),
        _family("tracker_conversation_answered_automatically", "gauge",
               "Customers' messages answered at once without a person (status questions, order number requests).",
               [({}, auto)]),
        _family("tracker_conversation_cases_opened", "gauge", "Cases handed to support (customers' messages and "
                                                             "reported problems).", [({}, opened)]),
        _family("tracker_conversation_cases_open", "gauge", "Cases not yet closed by support.", [({}, still_open)]),
        _family("tracker_conversation_first_human_answer_seconds_sum", "gauge",
               "Seconds from a case's opening to support's first answer, summed over answered cases.",
               [({}, answer_sum or 0)]),
        _family("tracker_conversation_first_human_answer_seconds_count", "gauge", "Cases support has answered.",
               [({}, answer_count)]),
    ]


@dataclass
class Figures:
    questions: int  # customers' messages that asked something (answered automatically, or handed to a person)
    answered_automatically: int
    cases: int

    delivery_problems: dict[str, int]  # carrier -> parcels reported not received although delivered

    @property
    def share_without_person(self) -> float | None:
        return self.answered_automatically / self.questions if self.questions else None

    def text(self) -> str:
        if not self.questions:
            return "Customers' questions: none in this period"
        out = (f"Customers' questions: {self.questions}; answered without a person: {self.answered_automatically} "
               f"({self.share_without_person:.0%}); handed to support: {self.cases}")
        if self.delivery_problems:
            out += "\nReported not received although delivered: " + ", ".join(
                f"{c} {n}" for c, n in sorted(self.delivery_problems.items()))
        return out


async def load(engine, since: datetime) -> Figures:
    M = ConversationMessage
    async with sessionmaker(engine)() as s:
        auto = (await s.execute(select(func.count()).where(M.direction == "in", M.answered.is_(True),
                                                           M.created_at >= since))).scalar_one()
        cases = (await s.execute(select(func.count()).where(Case.opened_at >= since))).scalar_one()
        problems = await delivery_problems(s, since)
    return Figures(auto + cases, auto, cases, problems)
