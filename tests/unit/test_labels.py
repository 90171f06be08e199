"""Shipping labels render to the same PDF bytes for the same content, in any alphabet."""

from __future__ import annotations

from infra.labels import LabelContent, address_lines, latin1, render_label

FROM = address_lines(
    {
        "name": "Łódź Ceramics",
        "line1": "ul. Piotrkowska 1",
        "line2": "",
        "city": "Łódź",
        "postal_code": "90-001",
        "country": "PL",
    }
)
TO = address_lines(
    {
        "name": "Zoë Ünal",
        "line1": "1 Loop Road",
        "line2": "Flat 2",
        "city": "Lyon",
        "postal_code": "69001",
        "country": "FR",
    }
)
CONTENT = LabelContent("0d1-order", FROM, TO, (("Teapot", 2), ("Cup ☕", 4)))


def test_the_same_content_renders_to_the_same_bytes() -> None:
    assert render_label(CONTENT) == render_label(CONTENT)
    assert render_label(CONTENT) != render_label(LabelContent("other", FROM, TO, CONTENT.lines))


def test_the_label_is_a_pdf_showing_order_addresses_and_lines() -> None:
    pdf = render_label(CONTENT)

    assert pdf.startswith(b"%PDF-")
    for text in ["0d1-order", "Lódz Ceramics", "90-001 Lódz", "Zoë Ünal", "Flat 2", "69001 Lyon"]:
        assert text.encode("latin-1") in pdf, text
    assert b"Teapot \xd7 2" in pdf
    assert b"Cup ? \xd7 4" in pdf


def test_address_lines_skip_empty_parts() -> None:
    assert TO == ("Zoë Ünal", "1 Loop Road", "Flat 2", "69001 Lyon", "FR")
    assert FROM[1:] == ("ul. Piotrkowska 1", "90-001 Łódź", "PL")


def test_text_outside_latin1_loses_accents_or_becomes_a_question_mark() -> None:
    assert latin1("Crème brûlée") == "Crème brûlée"
    assert latin1("Łódź Ærø") == "Lódz Ærø"
    assert latin1("東京 Straße") == "?? Straße"


def test_a_long_list_of_lines_flows_onto_more_pages() -> None:
    lines = tuple((f"Item {n}", n) for n in range(1, 51))
    pdf = render_label(LabelContent("big", FROM, TO, lines))

    assert pdf.count(b"/Type /Page\n") > 1
    assert b"Item 50 \xd7 50" in pdf
