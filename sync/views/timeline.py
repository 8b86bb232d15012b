"""The 12-week timeline strip of a pair, as a small PNG for email (and its words for everyone else).

Email clients block scripts and `data:` images, and Outlook ignores most CSS, so the picture is a
plain PNG sent inline (`cid:`). It is drawn at twice its display size for sharp screens, with a
palette of few colours (a few kilobytes). Every state has its own marker as well as its own colour
(a tick, an arrow, a ring, a cross, a dash, hatching, an outline), so it reads without colour too,
and the same sequence is given as text (`alt`, and the plain-text part).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from rules.summary import AWAY, CANCELLED, GAP, HELD, MOVED, NONE, REPLACED, SCHEDULED, WeekCell

SCALE = 2  # pixels per CSS pixel
CELL = 22  # CSS pixels
SPACE = 4
LABEL = 13


@dataclass(frozen=True)
class Style:
    fill: str
    ink: str  # the marker's colour
    glyph: str  # the same marker in HTML and text legends
    words: str


STYLES: dict[str, Style] = {
    HELD: Style("#2e7d32", "#ffffff", "✓", "held"),
    MOVED: Style("#f2a900", "#3b2800", "→", "moved"),
    REPLACED: Style("#1f6fb5", "#ffffff", "○", "replaced by another 1:1"),
    CANCELLED: Style("#c62828", "#ffffff", "×", "cancelled"),
    AWAY: Style("#b8c4cc", "#37474f", "–", "cancelled while away"),
    GAP: Style("#eeeeee", "#9e9e9e", "▨", "no 1:1 (gap)"),
    SCHEDULED: Style("#ffffff", "#555555", "□", "scheduled"),
    NONE: Style("#ffffff", "#dddddd", "·", "no 1:1 due"),
}


def size(weeks: int) -> tuple[int, int]:
    """The strip's display size in CSS pixels (the PNG is SCALE times larger)."""
    return weeks * (CELL + SPACE) - SPACE, CELL + 2 + LABEL


def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=px)
    except (OSError, TypeError, AttributeError):  # a Pillow built without FreeType: the bitmap font
        return ImageFont.load_default()


def _marker(draw: ImageDraw.ImageDraw, state: str, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    style = STYLES[state]
    w = 3 * SCALE // 2
    cx, cy, r = (x0 + x1) // 2, (y0 + y1) // 2, (x1 - x0) // 4
    if state == HELD:
        draw.line([(cx - r, cy), (cx - r // 3, cy + r * 2 // 3), (cx + r, cy - r * 2 // 3)], fill=style.ink, width=w)
    elif state == MOVED:
        draw.line([(cx - r, cy), (cx + r, cy)], fill=style.ink, width=w)
        draw.polygon([(cx + r + w, cy), (cx + r // 3, cy - r * 2 // 3), (cx + r // 3, cy + r * 2 // 3)], fill=style.ink)
    elif state == REPLACED:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=style.ink, width=w)
    elif state == CANCELLED:
        draw.line([(cx - r, cy - r), (cx + r, cy + r)], fill=style.ink, width=w)
        draw.line([(cx - r, cy + r), (cx + r, cy - r)], fill=style.ink, width=w)
    elif state == AWAY:
        draw.line([(cx - r, cy), (cx + r, cy)], fill=style.ink, width=w)
    elif state == GAP:
        step = 5 * SCALE
        for offset in range(-(y1 - y0), x1 - x0, step):
            draw.line([(x0 + offset, y1), (x0 + offset + (y1 - y0), y0)], fill=style.ink, width=SCALE)
    elif state == SCHEDULED:
        draw.ellipse([cx - r // 2, cy - r // 2, cx + r // 2, cy + r // 2], fill=style.ink)


def timeline_png(cells: Sequence[WeekCell]) -> bytes:
    """The strip: one cell per week, oldest first, the ISO week number under each."""
    width, height = size(len(cells))
    image = Image.new("RGB", (width * SCALE, height * SCALE), "#ffffff")
    draw = ImageDraw.Draw(image)
    font = _font(10 * SCALE)
    for n, cell in enumerate(cells):
        style = STYLES[cell.state]
        x0 = n * (CELL + SPACE) * SCALE
        box = (x0, SCALE, x0 + CELL * SCALE, (CELL + 1) * SCALE)
        draw.rectangle(box, fill=style.fill)
        _marker(draw, cell.state, box)
        border = {SCHEDULED: ("#555555", 2 * SCALE), NONE: ("#d0d0d0", SCALE)}.get(cell.state)
        if border is not None:
            draw.rectangle(box, outline=border[0], width=border[1])
        left, _, right, _ = draw.textbbox((0, 0), cell.label, font=font)
        draw.text(
            (x0 + (CELL * SCALE - (right - left)) // 2, (CELL + 3) * SCALE), cell.label, fill="#555555", font=font
        )
    out = io.BytesIO()
    paletted = image.quantize(colors=48, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    paletted.save(out, format="PNG", optimize=True)
    return out.getvalue()


def timeline_text(cells: Sequence[WeekCell]) -> str:
    """The same strip in words: `W45 held · W46 cancelled · …`."""
    return " · ".join(f"{cell.label} {STYLES[cell.state].words}" for cell in cells)


def legend() -> list[tuple[str, Style]]:
    return list(STYLES.items())
