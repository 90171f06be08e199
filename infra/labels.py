"""Shipping labels as PDF: order id, ship-from, ship-to and the parcel's contents.

The same label renders to the same bytes: the creation date is fixed and the page streams
are left uncompressed (a label is a few kilobytes), so the text can be found in the file.
The PDF core font (Helvetica) covers Latin-1 only; other letters are written without their
accents where that makes them Latin-1 ("Łódź" becomes "Lódz"), and as "?" otherwise, as are
control characters (a NUL in a name from an old event, say), which it has no glyph for.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

PAGE = (105.0, 148.0)
"""A6 portrait in millimetres, the usual size of a parcel label."""
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
TIMES = "\u00d7"
"""The multiplication sign (Latin-1), between a line's title and its quantity."""
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
FALLBACKS = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss"})


@dataclass(frozen=True)
class LabelContent:
    """What a label shows; addresses are lists of printed lines."""

    order_id: str
    ship_from: tuple[str, ...]
    ship_to: tuple[str, ...]
    lines: tuple[tuple[str, int], ...]


def address_lines(address: Mapping[str, str]) -> tuple[str, ...]:
    """A postal address (name, line1, line2, city, postal_code, country) as printed lines."""
    lines = [address.get("name", ""), address.get("line1", ""), address.get("line2", "")]
    lines.append(f"{address.get('postal_code', '')} {address.get('city', '')}".strip())
    lines.append(address.get("country", ""))
    return tuple(line for line in lines if line)


def latin1(text: str) -> str:
    """The text in the core font's Latin-1: accents dropped where needed, else '?' (as for a
    control character)."""
    if _printable(text):
        return text
    out = []
    for char in text:
        if _printable(char):
            out.append(char)
            continue
        plain = unicodedata.normalize("NFKD", char.translate(FALLBACKS))
        plain = "".join(c for c in plain if not unicodedata.combining(c))
        out.append(plain if plain and _printable(plain) else "?")
    return "".join(out)


def render_label(content: LabelContent) -> bytes:
    """The label as a one-page (more for long contents) A6 PDF."""
    pdf = FPDF(format=PAGE)
    pdf.set_creation_date(EPOCH)
    pdf.set_producer("marketplace")
    pdf.set_title(latin1(f"Shipping label {content.order_id}"))
    pdf.set_compression(False)
    pdf.set_margins(6, 6, 6)
    pdf.set_auto_page_break(auto=True, margin=6)
    pdf.add_page()
    width = pdf.epw
    pdf.set_font("Helvetica", "B", 13)
    _line(pdf, width, "SHIPPING LABEL", 7)
    pdf.set_font("Helvetica", "", 8)
    _line(pdf, width, f"Order {content.order_id}", 5)
    pdf.ln(2)
    _block(pdf, width, "FROM", content.ship_from, size=9)
    pdf.ln(2)
    pdf.set_draw_color(0)
    pdf.set_line_width(0.6)
    top = pdf.get_y()
    _block(pdf, width, "TO", content.ship_to, size=13)
    pdf.rect(pdf.l_margin - 1, top - 1, width + 2, pdf.get_y() - top + 2)
    pdf.ln(4)
    items = tuple(f"{title} {TIMES} {quantity}" for title, quantity in content.lines)
    _block(pdf, width, "CONTENTS", items, size=8)
    return bytes(pdf.output())


def _block(pdf: FPDF, width: float, heading: str, lines: Sequence[str], size: int) -> None:
    pdf.set_font("Helvetica", "B", 7)
    _line(pdf, width, heading, 4)
    pdf.set_font("Helvetica", "", size)
    for text in lines:
        pdf.multi_cell(width, size * 0.45, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _line(pdf: FPDF, width: float, text: str, height: float) -> None:
    pdf.cell(width, height, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _printable(text: str) -> bool:
    """Whether the core font has a glyph for every character: Latin-1, and no control."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return CONTROL.search(text) is None
