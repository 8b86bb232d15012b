"""A queued message as Slack Block Kit: built from the row itself, the same words and links as the email.

Every message oneonone writes has a plain-text body of paragraphs; a paragraph's line that ends in a
link (`Your 1:1 page with Bob Jones: https://…/a/…`) is that paragraph's button. So a warning becomes a
header (the subject: what broke and when), one section per report with a button to the pair's page,
and nothing needs storing twice; nudges and the digest come out the same way. Text from events and
people (titles, names) is escaped for mrkdwn (`&`, `<`, `>`), so a title such as `<!channel>` or
`<https://evil|click>` is shown, never acted on.
"""

from __future__ import annotations

import re
from typing import Any

from sync.store.models import OutboxRow

OPEN_PAGE = "open-page"  # the buttons' action_id: the request URL knows them by it
MAX_BLOCKS = 50  # Slack's limit per message
SECTION_CHARS = 3000  # a section's text
HEADER_CHARS = 150  # a header's text
BUTTON_CHARS = 75  # a button's label

_LINK = re.compile(r"^(?P<label>.*?):?\s*(?P<url>https?://\S+)$")
_SIGNATURE = "-- \n"
_SIGNED = re.compile(r"^(--|—)\s*oneonone$")  # the nudges' "— oneonone": Slack shows who posted
OPEN = "Open the 1:1 page"  # a bare link's button

Block = dict[str, Any]


def escape(text: str) -> str:
    """Slack's three control characters, escaped as its docs ask; nothing else is (mrkdwn has no other)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _paragraphs(body: str) -> list[str]:
    body = body.split(_SIGNATURE, 1)[0]  # the email's signature: Slack shows who posted
    found = [p.strip("\n") for p in re.split(r"\n\s*\n", body) if p.strip()]
    return [p for p in found if not _SIGNED.match(p.strip())]


def _unwrap(lines: list[str]) -> list[str]:
    """An email's hard-wrapped sentence ("…what you / agreed while…") as one line: Slack wraps by itself."""
    out: list[str] = []
    for line in lines:
        if out and line[:1].islower():
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def _button(label: str, url: str) -> Block:
    return {
        "type": "button",
        "action_id": OPEN_PAGE,
        "text": {"type": "plain_text", "text": _cut(label or OPEN, BUTTON_CHARS), "emoji": False},
        "url": url,
        "value": url,
    }


def _section(paragraph: str) -> Block:
    lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
    links = [(m["label"].strip(), m["url"]) for m in map(_LINK.match, lines) if m is not None]
    kept = _unwrap([line for line in lines if _LINK.match(line) is None])
    if not kept:  # a link on its own: a button on its own
        return {"type": "actions", "elements": [_button(label, url) for label, url in links[:5]]}
    body = [escape(line) for line in kept]
    if kept[0].startswith("* "):  # a list item's first line says what it is about: in bold
        body[0] = f"*{escape(kept[0][2:])}*"
    section: Block = {"type": "section", "text": {"type": "mrkdwn", "text": _cut("\n".join(body), SECTION_CHARS)}}
    if links:
        section["accessory"] = _button(*links[0])
    return section


def render_blocks(row: OutboxRow) -> tuple[str, list[Block]]:
    """The notification text (the subject: what a phone's banner shows) and the blocks."""
    header: Block = {
        "type": "header",
        "text": {"type": "plain_text", "text": _cut(row.subject, HEADER_CHARS), "emoji": False},
    }
    blocks = [header, *(_section(p) for p in _paragraphs(row.text_body))]
    if len(blocks) > MAX_BLOCKS:
        more = {"type": "context", "elements": [{"type": "mrkdwn", "text": "The rest is in the email version."}]}
        blocks = [*blocks[: MAX_BLOCKS - 1], more]
    return escape(row.subject), blocks
