"""The first 1:1 of a new pair: getting to know how the report works, in our own words.

A pair is new when the directory's start date for it is recent, or when its first 1:1 appears
after oneonone started watching (a pair seen with held 1:1s already is not new).
"""

from __future__ import annotations

from datetime import date, timedelta

from rules.history import PairHistory, is_held

MORE_QUESTIONS_URL = "https://larahogan.me/blog/first-one-on-one-questions/"

NOT_A_STATUS_UPDATE = (
    "This 1:1 is the report's time, not a project status update: status belongs in the team's usual channels."
)

QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "How you like to work",
        (
            "When in the day or week do you do your best work?",
            "How do you like to hear about new work or changes: in person, in writing, with time to think first?",
            "What should I know about you that is not on your CV?",
        ),
    ),
    (
        "Feedback and recognition",
        (
            "How do you like to receive feedback: right away or saved for our 1:1, written or spoken?",
            "Is there a kind of recognition you like, or one that makes you uncomfortable?",
            "How can you tell me when I get something wrong?",
        ),
    ),
    (
        "Energy",
        (
            "What kind of work gives you energy, and what drains it?",
            "What made a past manager or team great for you, and what made one hard?",
        ),
    ),
    (
        "Goals",
        (
            "What do you want to learn or get better at this year?",
            "Where would you like to be in two or three years, and how can this role help?",
        ),
    ),
)

STANDING_TOPICS: tuple[tuple[str, str], ...] = (
    ("Big picture", "How does your work connect to what the team and the company are trying to do?"),
    ("Feedback", "Anything to share, both ways: what is working, what is not?"),
    ("Career", "What are you learning; what would you like to do next?"),
    ("Personal", "How are you doing, really?"),
)


def is_new_pair(history: PairHistory | None, directory_start: date | None, today: date, recent_days: int) -> bool:
    """Decided once, when the pair is first seen."""
    if directory_start is not None and directory_start >= today - timedelta(days=recent_days):
        return True
    if history is None:
        return True
    return not any(is_held(o, history.now) for o in history.occurrences)
