"""The invoice PDF renderer (reportlab platypus) over a plain `InvoiceDocument`.

Pure module (no Django): `invoicing.documents` builds the `InvoiceDocument` from the stored invoice and stores the
bytes. Everything printed comes from the document, formatted by `invoicing.locales` in the document's locale.

Layout (A4): title and invoice facts; seller and buyer blocks; one table of fee lines grouped by subscription
(header repeated on every page, long texts wrap); totals (coupons, subtotal, taxes by rate, credits, total);
payment terms; the organization's footer; "number · page X of Y" at the bottom of each page.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as pdf_canvas
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from invoicing import locales

# --- the document ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    name: str
    legal_name: str | None = None
    address_lines: tuple[str, ...] = ()
    tax_identification_number: str | None = None
    legal_number: str | None = None
    email: str | None = None
    extra_lines: tuple[str, ...] = ()  # e.g. customer metadata shown on invoices ("PO: 1234")


@dataclass(frozen=True)
class FeeLine:
    description: str
    amount_cents: int
    units: Decimal | None = None
    unit_price: Decimal | None = None  # major units (precise)
    details: tuple[str, ...] = ()  # smaller lines under the description (filter, grouping, period, note)


@dataclass(frozen=True)
class FeeGroup:
    title: str | None
    periods: tuple[tuple[str, dt.date, dt.date], ...] = ()  # (label key, first day, last day)
    lines: tuple[FeeLine, ...] = ()


@dataclass(frozen=True)
class TaxLine:
    name: str
    rate: Decimal
    base_amount_cents: int
    amount_cents: int


@dataclass(frozen=True)
class InvoiceDocument:
    locale: str
    currency: str
    exponent: int
    number: str
    issuing_date: dt.date
    payment_due_date: dt.date
    net_payment_term: int
    seller: Party
    buyer: Party
    groups: tuple[FeeGroup, ...]
    sub_total_excluding_taxes_amount_cents: int
    taxes_amount_cents: int
    sub_total_including_taxes_amount_cents: int
    total_amount_cents: int
    coupons: tuple[tuple[str, int], ...] = ()  # (coupon name, amount taken off)
    taxes: tuple[TaxLine, ...] = ()
    progressive_billing_credit_amount_cents: int = 0
    credit_notes_amount_cents: int = 0
    prepaid_credit_amount_cents: int = 0
    footer: str | None = None
    status: str = "finalized"  # "draft" and "voided" are stamped next to the title


# --- fonts -------------------------------------------------------------------------------------------------------

_FONT_CANDIDATES = (
    # DejaVu Sans covers Latin, Greek, Cyrillic and the narrow no-break space French numbers use.
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
)
FONT, FONT_BOLD = "InvoiceSans", "InvoiceSans-Bold"


@lru_cache(maxsize=1)
def _fonts() -> frozenset[int]:
    """Register the embedded Unicode TTF (DejaVu Sans if installed, else Bitstream Vera which ships inside
    reportlab and covers Latin-1: å ø æ ä ö ü é ß…). Returns the code points the regular face lacks."""
    import reportlab

    bundled = Path(reportlab.__file__).parent / "fonts"
    candidates = [*_FONT_CANDIDATES, (str(bundled / "Vera.ttf"), str(bundled / "VeraBd.ttf"))]
    regular, bold = next((r, b) for r, b in candidates if Path(r).is_file() and Path(b).is_file())
    regular_font = TTFont(FONT, regular)
    pdfmetrics.registerFont(regular_font)
    pdfmetrics.registerFont(TTFont(FONT_BOLD, bold))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)
    covered = regular_font.face.charToGlyph
    return frozenset(cp for cp in (0x202F, 0x2009, 0x2013, 0x2212) if cp not in covered)


_FALLBACKS = {0x202F: "\u00a0", 0x2009: " ", 0x2013: "-", 0x2212: "-"}


def _safe(text: str) -> str:
    """Text the embedded font can draw (characters it lacks become their plain equivalent)."""
    missing = _fonts()
    if missing:
        text = text.translate({cp: _FALLBACKS[cp] for cp in missing})
    return text


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain (user) text: escaped for reportlab's mini-markup, newlines kept."""
    return Paragraph(escape(_safe(text)).replace("\n", "<br/>"), style)


MIN_NUMBER_SIZE = 5.5


def _num(text: str, style: ParagraphStyle, width: float) -> Paragraph:
    """A number in a cell ``width`` points wide: the font shrinks (down to 5.5 pt) rather than split the number;
    only a number too long even then wraps."""
    text = _safe(text)
    natural = pdfmetrics.stringWidth(text, style.fontName, style.fontSize)
    if natural > width:
        size = max(MIN_NUMBER_SIZE, style.fontSize * width / natural * 0.98)
        style = _shrunk(style, round(size, 2))
    return Paragraph(escape(text), style)


@lru_cache(maxsize=256)
def _shrunk(style: ParagraphStyle, size: float) -> ParagraphStyle:
    return ParagraphStyle(
        f"{style.name}-{size}", parent=style, fontSize=size, leading=max(size * 1.25, style.leading * 0.7)
    )


# --- styles ------------------------------------------------------------------------------------------------------

INK = colors.HexColor("#19212e")
MUTED = colors.HexColor("#5b6472")
RULE = colors.HexColor("#d5d9e0")
BAND = colors.HexColor("#f1f3f6")
ACCENT = colors.HexColor("#b42318")

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
FRAME_PADDING = 6  # SimpleDocTemplate's frame pads its content by 6 pt on every side
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
# Description · units · unit price · amount
COLUMNS = (CONTENT_WIDTH - 24 * mm - 35 * mm - 37 * mm, 24 * mm, 35 * mm, 37 * mm)
CELL_PADDING = 4
TOTALS_WIDTH, TOTALS_VALUE_WIDTH = 108 * mm, 44 * mm


@lru_cache(maxsize=1)
def _styles() -> dict[str, ParagraphStyle]:
    _fonts()
    base = ParagraphStyle("base", fontName=FONT, fontSize=8.5, leading=11, textColor=INK)
    return {
        "base": base,
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=20, leading=24),
        "stamp": ParagraphStyle("stamp", parent=base, fontName=FONT_BOLD, fontSize=11, textColor=ACCENT),
        "label": ParagraphStyle("label", parent=base, textColor=MUTED, fontSize=7.5, leading=10),
        "party_head": ParagraphStyle("party_head", parent=base, textColor=MUTED, fontSize=7.5, leading=10),
        "party_name": ParagraphStyle("party_name", parent=base, fontName=FONT_BOLD, fontSize=10, leading=13),
        "value": ParagraphStyle("value", parent=base, alignment=TA_RIGHT),
        "value_bold": ParagraphStyle("value_bold", parent=base, fontName=FONT_BOLD, alignment=TA_RIGHT),
        "head": ParagraphStyle("head", parent=base, fontName=FONT_BOLD, textColor=MUTED, fontSize=7.5),
        "head_right": ParagraphStyle(
            "head_right", parent=base, fontName=FONT_BOLD, textColor=MUTED, fontSize=7.5, alignment=TA_RIGHT
        ),
        "group": ParagraphStyle("group", parent=base, fontName=FONT_BOLD, fontSize=9, leading=12),
        "group_period": ParagraphStyle(
            "group_period", parent=base, textColor=MUTED, fontSize=7.5, leading=10
        ),
        "cell": base,
        "detail": ParagraphStyle("detail", parent=base, textColor=MUTED, fontSize=7.5, leading=9.5),
        "number": ParagraphStyle("number", parent=base, alignment=TA_RIGHT),
        "total_label": ParagraphStyle("total_label", parent=base, alignment=TA_LEFT),
        "grand_label": ParagraphStyle(
            "grand_label", parent=base, fontName=FONT_BOLD, fontSize=10.5, leading=14
        ),
        "grand_value": ParagraphStyle(
            "grand_value", parent=base, fontName=FONT_BOLD, fontSize=10.5, leading=14, alignment=TA_RIGHT
        ),
        "terms": ParagraphStyle("terms", parent=base, fontSize=8.5, leading=11),
        "footer": ParagraphStyle("footer", parent=base, textColor=MUTED, fontSize=7.5, leading=10),
    }


# --- building blocks ---------------------------------------------------------------------------------------------


class _Formatter:
    def __init__(self, document: InvoiceDocument):
        self.doc = document
        self.locale = locales.normalize_locale(document.locale)

    def label(self, key: str, **values) -> str:
        return locales.label(self.locale, key, **values)

    def labelled(self, key: str, value: str) -> str:
        return locales.labelled(self.locale, self.label(key), value)

    def money(self, amount_cents: int) -> str:
        return locales.format_money(amount_cents, self.doc.currency, self.doc.exponent, self.locale)

    def minus(self, amount_cents: int) -> str:
        return self.money(-amount_cents) if amount_cents else self.money(0)

    def unit_price(self, amount: Decimal) -> str:
        return locales.format_unit_price(amount, self.doc.currency, self.doc.exponent, self.locale)

    def units(self, value: Decimal) -> str:
        return locales.format_units(value, self.locale)

    def date(self, value: dt.date) -> str:
        return locales.format_date(value, self.locale)

    def period(self, start: dt.date, end: dt.date) -> str:
        return locales.format_period(start, end, self.locale)

    def percent(self, rate: Decimal) -> str:
        return locales.format_percent(rate, self.locale)


def _header(doc: InvoiceDocument, f: _Formatter, s: dict) -> list:
    title = [_p(f.label("invoice"), s["title"])]
    if doc.status in ("draft", "voided"):
        title.append(_p(f.label(doc.status).upper(), s["stamp"]))
    facts = Table(
        [
            [_p(f.label("invoice_number"), s["label"]), _p(doc.number, s["value_bold"])],
            [_p(f.label("issuing_date"), s["label"]), _p(f.date(doc.issuing_date), s["value"])],
            [_p(f.label("payment_due_date"), s["label"]), _p(f.date(doc.payment_due_date), s["value"])],
        ],
        colWidths=(32 * mm, 50 * mm),
        style=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        ),
    )
    return [
        Table(
            [[title, facts]],
            colWidths=(CONTENT_WIDTH - 82 * mm, 82 * mm),
            style=TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ]
            ),
        ),
        Spacer(1, 8 * mm),
    ]


def _party(party: Party, heading: str, f: _Formatter, s: dict) -> list:
    flow = [_p(heading.upper(), s["party_head"]), _p(party.name, s["party_name"])]
    if party.legal_name and party.legal_name != party.name:
        flow.append(_p(party.legal_name, s["base"]))
    flow.extend(_p(line, s["base"]) for line in party.address_lines)
    if party.email:
        flow.append(_p(party.email, s["base"]))
    if party.tax_identification_number:
        flow.append(_p(f.labelled("tax_id", party.tax_identification_number), s["base"]))
    if party.legal_number:
        flow.append(_p(f.labelled("legal_number", party.legal_number), s["base"]))
    flow.extend(_p(line, s["base"]) for line in party.extra_lines)
    return flow


def _parties(doc: InvoiceDocument, f: _Formatter, s: dict) -> list:
    gap = 10 * mm
    half = (CONTENT_WIDTH - gap) / 2
    return [
        Table(
            [[_party(doc.seller, f.label("seller"), f, s), "", _party(doc.buyer, f.label("buyer"), f, s)]],
            colWidths=(half, gap, half),
            style=TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ]
            ),
        ),
        Spacer(1, 8 * mm),
    ]


def _fee_table(doc: InvoiceDocument, f: _Formatter, s: dict) -> list:
    rows: list[list] = [
        [
            _p(f.label("description"), s["head"]),
            _p(f.label("units"), s["head_right"]),
            _p(f.label("unit_price"), s["head_right"]),
            _p(f.label("amount"), s["head_right"]),
        ]
    ]
    style: list[tuple] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
    ]
    inner = [width - 2 * CELL_PADDING for width in COLUMNS]
    titled = [group for group in doc.groups if group.lines]
    for group in titled:
        title = group.title
        if title is None and len(titled) > 1:
            title = f.label("other_items")
        if title is not None:
            cell = [_p(title, s["group"])]
            cell.extend(
                _p(f.labelled(key, f.period(start, end)), s["group_period"])
                for key, start, end in group.periods
            )
            row = len(rows)
            rows.append([cell, "", "", ""])
            style += [
                ("SPAN", (0, row), (-1, row)),
                ("BACKGROUND", (0, row), (-1, row), BAND),
                ("TOPPADDING", (0, row), (-1, row), 4),
                ("BOTTOMPADDING", (0, row), (-1, row), 4),
            ]
        for line in group.lines:
            description = [_p(line.description, s["cell"])]
            description.extend(_p(detail, s["detail"]) for detail in line.details)
            units = f.units(line.units) if line.units is not None else None
            price = f.unit_price(line.unit_price) if line.unit_price is not None else None
            row = len(rows)
            rows.append(
                [
                    description,
                    _num(units, s["number"], inner[1]) if units is not None else "",
                    _num(price, s["number"], inner[2]) if price is not None else "",
                    _num(f.money(line.amount_cents), s["number"], inner[3]),
                ]
            )
            style.append(("LINEBELOW", (0, row), (-1, row), 0.4, RULE))
    return [Table(rows, colWidths=COLUMNS, repeatRows=1, style=TableStyle(style)), Spacer(1, 5 * mm)]


def _totals(doc: InvoiceDocument, f: _Formatter, s: dict) -> list:
    lines: list[tuple[str, str]] = [
        (f.labelled("coupon", name), f.minus(amount)) for name, amount in doc.coupons
    ]
    if doc.progressive_billing_credit_amount_cents:
        lines.append(
            (f.label("progressive_billing_credit"), f.minus(doc.progressive_billing_credit_amount_cents))
        )
    lines.append((f.label("sub_total_excluding_taxes"), f.money(doc.sub_total_excluding_taxes_amount_cents)))
    for tax in doc.taxes:
        text = f.label("tax_on", name=tax.name, rate=f.percent(tax.rate), base=f.money(tax.base_amount_cents))
        lines.append((text, f.money(tax.amount_cents)))
    if not doc.taxes:
        lines.append((f"{f.label('tax')} ({f.percent(Decimal(0))})", f.money(doc.taxes_amount_cents)))
    lines.append((f.label("sub_total_including_taxes"), f.money(doc.sub_total_including_taxes_amount_cents)))
    if doc.credit_notes_amount_cents:
        lines.append((f.label("credit_notes"), f.minus(doc.credit_notes_amount_cents)))
    if doc.prepaid_credit_amount_cents:
        lines.append((f.label("prepaid_credits"), f.minus(doc.prepaid_credit_amount_cents)))
    inner = TOTALS_VALUE_WIDTH - 2 * CELL_PADDING
    rows = [[_p(text, s["total_label"]), _num(amount, s["value"], inner)] for text, amount in lines]
    grand = len(rows)
    rows.append(
        [
            _p(f.label("total"), s["grand_label"]),
            _num(f.money(doc.total_amount_cents), s["grand_value"], inner),
        ]
    )
    return [
        Table(
            rows,
            colWidths=(TOTALS_WIDTH - TOTALS_VALUE_WIDTH, TOTALS_VALUE_WIDTH),
            hAlign="RIGHT",
            style=TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
                    ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                    ("LINEABOVE", (0, grand), (-1, grand), 0.8, INK),
                    ("TOPPADDING", (0, grand), (-1, grand), 5),
                ]
            ),
        ),
        Spacer(1, 7 * mm),
    ]


def _closing(doc: InvoiceDocument, f: _Formatter, s: dict) -> list:
    term = doc.net_payment_term
    if term <= 0:
        terms = f.label("payment_terms_receipt")
    elif term == 1:
        terms = f.label("payment_terms_day")
    else:
        terms = f.label("payment_terms_days", days=term)
    flow = [_p(terms, s["terms"])]
    if doc.footer:
        flow += [Spacer(1, 4 * mm), _p(doc.footer, s["footer"])]
    return flow


def _numbered_canvas(document: InvoiceDocument, f: _Formatter):
    """A canvas that writes "number · Page X of Y" on every page once the page count is known."""

    class NumberedCanvas(pdf_canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            self.saveState()
            self.setFont(FONT, 7.5)
            self.setFillColor(MUTED)
            self.setStrokeColor(RULE)
            self.setLineWidth(0.4)
            self.line(MARGIN, 12 * mm, PAGE_WIDTH - MARGIN, 12 * mm)
            self.drawString(MARGIN, 8 * mm, _safe(document.number))
            text = _safe(f.label("page", page=self._pageNumber, pages=total))
            self.drawRightString(PAGE_WIDTH - MARGIN, 8 * mm, text)
            self.restoreState()

    return NumberedCanvas


def render_invoice(document: InvoiceDocument) -> bytes:
    """The PDF bytes of one invoice document."""
    styles = _styles()
    f = _Formatter(document)
    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        # Content starts exactly at MARGIN (the frame adds its own padding); the bottom keeps room for the footer.
        leftMargin=MARGIN - FRAME_PADDING,
        rightMargin=MARGIN - FRAME_PADDING,
        topMargin=MARGIN - FRAME_PADDING,
        bottomMargin=MARGIN,
        title=_safe(f"{f.label('invoice')} {document.number}"),
        author=_safe(document.seller.name),
        subject=_safe(document.number),
        creator="Tollbooth",
        lang=f.locale,
    )
    story = [
        *_header(document, f, styles),
        *_parties(document, f, styles),
        *_fee_table(document, f, styles),
        # The totals, payment terms and footer stay together (on the last page).
        KeepTogether([*_totals(document, f, styles), *_closing(document, f, styles)]),
    ]
    template.build(story, canvasmaker=_numbered_canvas(document, f))
    return buffer.getvalue()
