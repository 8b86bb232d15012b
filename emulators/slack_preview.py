"""A picture of a posted message as Slack's desktop client lays it out, drawn from its Block Kit.

For the demo (next to each DM's JSON under `.demo/slack/`) and for reviewers: it shows what a manager
would see without a Slack workspace. It draws what oneonone posts (header, mrkdwn sections with a
button accessory, context), not all of Block Kit.
"""

from __future__ import annotations

import io
import re
import textwrap
from typing import Any

from PIL import Image, ImageDraw, ImageFont

WIDTH = 760
MARGIN = 20
TEXT_LEFT = 76  # right of the avatar
BUTTON_ROOM = 230
INK, GREY, BORDER = (29, 28, 29), (97, 96, 97), (221, 221, 221)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _font(px: int) -> Font:
    try:  # DejaVu has the dashes and arrows the messages use; Pillow's own font is the fallback
        return ImageFont.truetype("DejaVuSans.ttf", px)
    except OSError:
        pass
    try:
        return ImageFont.load_default(size=px)
    except TypeError:  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def _plain(mrkdwn: str) -> str:
    """What mrkdwn shows: links as their label, Slack's three escapes undone."""
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2", mrkdwn)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _lines(text: str, chars: int) -> list[tuple[str, bool]]:
    """(line, bold) pairs, wrapped at `chars`; a line wholly in `*…*` is bold."""
    out: list[tuple[str, bool]] = []
    for raw in text.split("\n"):
        bold = len(raw) > 2 and raw.startswith("*") and raw.endswith("*")
        shown = _plain(raw[1:-1] if bold else raw)
        out.extend((part, bold) for part in (textwrap.wrap(shown, chars) or [""]))
    return out


def preview_png(blocks: list[dict[str, Any]], *, app: str = "oneonone", when: str = "9:00 AM") -> bytes:
    body, small, big = _font(15), _font(13), _font(18)
    rows: list[tuple[str, Any]] = []  # laid out first, so the picture is as tall as the message
    height = MARGIN + 26
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines = textwrap.wrap(_plain(block["text"]["text"]), 58)
            rows.append(("header", lines))
            height += 26 * len(lines) + 8
        elif kind == "section":
            button = block.get("accessory") if block.get("accessory", {}).get("type") == "button" else None
            styled = _lines(block["text"]["text"], 48 if button else 78)
            rows.append(("section", (styled, button)))
            height += max(21 * len(styled), 40 if button else 0) + 10
        elif kind == "actions":
            labels = [_plain(e["text"]["text"]) for e in block.get("elements", []) if e.get("type") == "button"]
            rows.append(("actions", labels))
            height += 44
        elif kind == "context":
            text = " ".join(_plain(e.get("text", "")) for e in block.get("elements", []))
            lines = textwrap.wrap(text, 90)
            rows.append(("context", lines))
            height += 18 * len(lines) + 8
    image = Image.new("RGB", (WIDTH, height + MARGIN), "white")
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((MARGIN, MARGIN, MARGIN + 40, MARGIN + 40), radius=8, fill=(74, 21, 75))
    draw.text((MARGIN + 12, MARGIN + 9), app[:1].upper(), font=big, fill="white")
    draw.text((TEXT_LEFT, MARGIN), app, font=body, fill=INK, stroke_width=1, stroke_fill=INK)
    draw.rounded_rectangle((TEXT_LEFT + 80, MARGIN + 2, TEXT_LEFT + 112, MARGIN + 18), radius=3, fill=(232, 232, 232))
    draw.text((TEXT_LEFT + 85, MARGIN + 3), "APP", font=_font(11), fill=GREY)
    draw.text((TEXT_LEFT + 122, MARGIN + 2), when, font=small, fill=GREY)
    y = MARGIN + 26
    for kind, content in rows:
        if kind == "header":
            for line in content:
                draw.text((TEXT_LEFT, y), line, font=big, fill=INK, stroke_width=1, stroke_fill=INK)
                y += 26
            y += 8
        elif kind == "section":
            lines, button = content
            top = y
            for line, bold in lines:
                draw.text((TEXT_LEFT, y), line, font=body, fill=INK, stroke_width=1 if bold else 0, stroke_fill=INK)
                y += 21
            if button is not None:
                label = _plain(button["text"]["text"])
                left = WIDTH - MARGIN - BUTTON_ROOM + 10
                draw.rounded_rectangle((left, top, WIDTH - MARGIN, top + 32), radius=5, outline=BORDER, width=1)
                shown = textwrap.shorten(label, 30, placeholder="…")
                draw.text((left + 12, top + 8), shown, font=small, fill=INK, stroke_width=1, stroke_fill=INK)
                y = max(y, top + 40)
            y += 10
        elif kind == "actions":
            left = TEXT_LEFT
            for label in content:
                shown = textwrap.shorten(label, 30, placeholder="…")
                right = left + 24 + int(draw.textlength(shown, font=small))
                draw.rounded_rectangle((left, y, right, y + 32), radius=5, outline=BORDER, width=1)
                draw.text((left + 12, y + 8), shown, font=small, fill=INK, stroke_width=1, stroke_fill=INK)
                left = right + 8
            y += 44
        else:
            for line in content:
                draw.text((TEXT_LEFT, y), line, font=small, fill=GREY)
                y += 18
            y += 8
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
