"""What people read must never show: a setting's name (the why is in numbers; keys stay in the docs)."""

from __future__ import annotations

import re

CONFIG_KEY = re.compile(r"\b(rules|digest|notify|agenda|booking|directory|web|escalation)\.[a-z_]+\b")
