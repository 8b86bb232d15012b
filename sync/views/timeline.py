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
    elif state == GAP:  # "/" hatching, as the legend's ▨; the cell is drawn on its own, so it stays inside
        step = 5 * SCALE
        for offset in range(-(y1 - y0), x1 - x0, step):
            draw.line([(x0 + offset, y1), (x0 + offset + (y1 - y0), y0)], fill=style.ink, width=SCALE)
    elif state == SCHEDULED:
        draw.ellipse([cx - r // 2, cy - r // 2, cx + r // 2, cy + r // 2], fill=style.ink)


def _cell(state: str, days: int = 7) -> Image.Image:
    """One week's square on its own image, so no marker reaches a neighbour. A week still under way
    (`days` of 7 gone) shows its days to come pale, behind a line at today."""
    side = CELL * SCALE
    image = Image.new("RGB", (side, side), STYLES[state].fill)
    draw = ImageDraw.Draw(image)
    _marker(draw, state, (0, 0, side, side))
    border = {SCHEDULED: ("#555555", 2 * SCALE), NONE: ("#d0d0d0", SCALE)}.get(state)
    if border is not None:
        draw.rectangle((0, 0, side - 1, side - 1), outline=border[0], width=border[1])
    if days < 7:
        split = side * days // 7
        future = image.crop((split, 0, side, side))
        image.paste(Image.blend(future, Image.new("RGB", future.size, "#ffffff"), 0.7), (split, 0))
        draw.line([(split, 0), (split, side)], fill="#37474f", width=SCALE)
    return image


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    paletted = image.quantize(colors=48, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    paletted.save(out, format="PNG", optimize=True)
    return out.getvalue()


def timeline_png(cells: Sequence[WeekCell]) -> bytes:
    """The strip: one cell per week, oldest first, the ISO week number under each."""
    width, height = size(len(cells))
    image = Image.new("RGB", (width * SCALE, height * SCALE), "#ffffff")
    draw = ImageDraw.Draw(image)
    font = _font(10 * SCALE)
    for n, cell in enumerate(cells):
        x0 = n * (CELL + SPACE) * SCALE
        image.paste(_cell(cell.state, cell.days), (x0, SCALE))
        left, _, right, _ = draw.textbbox((0, 0), cell.label, font=font)
        draw.text(
            (x0 + (CELL * SCALE - (right - left)) // 2, (CELL + 3) * SCALE), cell.label, fill="#555555", font=font
        )
    return _png(image)


def swatch_png(state: str, days: int = 7) -> bytes:
    """A legend's key: the very cell the strip draws, so the legend cannot disagree with the picture."""
    return _png(_cell(state, days))


def timeline_text(cells: Sequence[WeekCell]) -> str:
    """The same strip in words: `W45 held · W46 cancelled · … · W49 (so far) held`."""
    return " · ".join(
        f"{cell.label}{' (so far)' if cell.days < 7 else ''} {STYLES[cell.state].words}" for cell in cells
    )


# The legend's last key: the week under way, its days to come pale (drawn on a `held` week).
PARTIAL = "partial"
PARTIAL_WORDS = "this week so far: the pale part is still to come"


def legend() -> list[tuple[str, Style]]:
    return list(STYLES.items())
