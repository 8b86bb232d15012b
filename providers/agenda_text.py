"""The agenda link as text inside an event: our block, found again by its URL, added without
touching a byte of what people wrote.

Calendar editors rewrite HTML and drop comment markers, so the block is recognised by the page
URL it contains, never by markup. Both providers' writers use these functions, so the block looks
the same everywhere.
"""

from __future__ import annotations

import html
import re

from providers.base import AgendaLink

_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def link_block(link: AgendaLink) -> str:
    """A short HTML paragraph; the title is escaped (display names are not trusted)."""
    return f'<p><a href="{html.escape(link.url, quote=True)}">{html.escape(link.title, quote=False)}</a></p>'


def has_link(text: str, url: str) -> bool:
    return bool(url) and (url in text or html.escape(url, quote=True) in text)


def _swap_old(text: str, link: AgendaLink) -> str | None:
    """After a rotation the old URL is replaced in place, keeping whatever an editor did to the block."""
    for old in link.replaces:
        if old and old in text:
            return text.replace(old, link.url)
    return None


def with_link(description: str, link: AgendaLink) -> str:
    """Google description: the user's text, a blank line, our block."""
    if has_link(description, link.url):
        return description
    swapped = _swap_old(description, link)
    if swapped is not None:
        return swapped
    if not description.strip():
        return link_block(link)
    return f"{description}\n\n{link_block(link)}"


def with_link_html(body: str, link: AgendaLink) -> str:
    """Graph HTML body: our block goes before `</body>` (or at the end); every other byte stays.

    A Teams meeting blob sits at the end of the body and must survive intact, or the Teams meeting
    stops working; inserting (never re-serialising) guarantees that.
    """
    if has_link(body, link.url):
        return body
    swapped = _swap_old(body, link)
    if swapped is not None:
        return swapped
    block = link_block(link)
    ends = list(_BODY_END.finditer(body))
    if ends:
        at = ends[-1].start()
        return body[:at] + block + body[at:]
    return body + block
