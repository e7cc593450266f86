"""Render one sample invoice per document locale into docs/invoices/<locale>.pdf and <locale>.png.

    .venv/bin/python docs/invoices/render_samples.py [--keep-pdf]

Needs `pdftoppm` (poppler-utils) for the PNGs (rendered at 60 dpi, first page; a "-2" PNG for further pages).
The sample is a plain `InvoiceDocument` (no database): a subscription with a plan fee, charges with filters and
groupings, a true-up, a long wrapping name, an add-on, a coupon, two tax rates, prepaid credits and a footer.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from invoicing.locales import SUPPORTED_LOCALES
from invoicing.pdf import FeeGroup, FeeLine, InvoiceDocument, Party, TaxLine, render_invoice

OUT = Path(__file__).resolve().parent

SELLER = Party(
    name="Nordlys Åkerø & Søn AS",
    address_lines=("Storgata 12", "0155 Oslo", "NO"),
    tax_identification_number="NO 987 654 321 MVA",
    email="faktura@nordlys.example",
)
BUYER = Party(
    name="Müller & Größe GmbH",
    legal_name="Müller & Größe Gesellschaft für Datenverarbeitung mbH",
    address_lines=("Königstraße 27", "Hinterhaus, 3. OG", "70173 Stuttgart", "DE"),
    tax_identification_number="DE123456789",
    email="buchhaltung@mueller-groesse.example",
    extra_lines=("PO: 2026-4471",),
)


def sample(locale: str) -> InvoiceDocument:
    period = (("billing_period", dt.date(2026, 10, 1), dt.date(2026, 10, 31)),)
    plan = FeeGroup(
        title="Scale plan — production",
        periods=period,
        lines=(
            FeeLine("Scale plan", 49000, Decimal(1), Decimal("490")),
            FeeLine(
                "API calls", 123456, Decimal("1234560"), Decimal("0.001"), details=("region: eu-west-1",)
            ),
            FeeLine("Storage (GB-month)", 7830, Decimal("87"), Decimal("0.9")),
            FeeLine(
                "Storage (GB-month) (minimum spend adjustment)",
                2170,
                Decimal(1),
                Decimal("21.7"),
            ),
            FeeLine(
                "Realtime event ingestion through the dedicated private-link endpoint with extended retention "
                "and cross-region replication (premium tier)",
                250000,
                Decimal("2500000"),
                Decimal("0.001"),
                details=("Frankfurt • Stockholm • Zürich",),
            ),
        ),
    )
    other = FeeGroup(
        title=None,
        lines=(
            FeeLine("Onboarding workshop", 150000, Decimal(1), Decimal("1500"), details=("2 days on site",)),
        ),
    )
    return InvoiceDocument(
        locale=locale,
        currency="EUR",
        exponent=2,
        number="NOR-4F2A-001-007",
        issuing_date=dt.date(2026, 11, 1),
        payment_due_date=dt.date(2026, 11, 24),
        net_payment_term=23,
        seller=SELLER,
        buyer=BUYER,
        groups=(plan, other),
        coupons=(("Welcome −10 %", 10000),),
        sub_total_excluding_taxes_amount_cents=572456,
        taxes=(
            TaxLine("VAT", Decimal("19"), 422456, 80267),
            TaxLine("Reduced VAT", Decimal("5.5"), 150000, 8250),
        ),
        taxes_amount_cents=88517,
        sub_total_including_taxes_amount_cents=660973,
        prepaid_credit_amount_cents=5000,
        total_amount_cents=655973,
        footer="Nordlys Åkerø & Søn AS · Org.nr. 987 654 321 · IBAN NO93 8601 1117 947 · Thank you — takk — tack!",
    )


def main() -> None:
    keep_pdf = "--keep-pdf" in sys.argv
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        sys.exit("pdftoppm not found: apt-get install poppler-utils")
    for locale in SUPPORTED_LOCALES:
        pdf = OUT / f"{locale}.pdf"
        pdf.write_bytes(render_invoice(sample(locale)))
        subprocess.run([pdftoppm, "-png", "-r", "60", "-singlefile", str(pdf), str(OUT / locale)], check=True)
        if not keep_pdf:
            pdf.unlink()
        print(OUT / f"{locale}.png")


if __name__ == "__main__":
    main()
