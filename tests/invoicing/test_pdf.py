"""Invoice PDF documents: locale formatting, the rendered document (parsed back with pypdf), storage and the
download endpoint (issue 6)."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pypdf
import pytest
from django.urls import include, path

from billing.services import invoices as billing_invoices
from config import errors
from config import urls as root_urls
from invoicing import documents, locales, tasks
from invoicing.models import Invoice
from invoicing.pdf import FeeGroup, FeeLine, InvoiceDocument, Party, render_invoice
from invoicing.services import applicable_taxes_for_fee
from tests.billing.factories import SubscriptionFactory
from tests.catalog.factories import (
    AddOnFactory,
    AppliedCouponFactory,
    ChargeFactory,
    ChargeFilterFactory,
    CouponFactory,
    PlanFactory,
)
from tests.conftest import make_api_client
from tests.customers.factories import CustomerFactory, OrganizationFactory, TaxFactory
from tests.invoicing.factories import add_on_fee, charge_fee, one_off_invoice, periodic, subscription_fee

# The document route is mounted by config/urls.py (`path("documents/", include("invoicing.urls_documents"))`);
# until it is, these tests add it themselves.
urlpatterns = [*root_urls.urlpatterns, path("documents/", include("invoicing.urls_documents"))]
handler404 = root_urls.handler404

pytestmark = pytest.mark.urls(__name__)

NBSP, NNBSP = "\u00a0", "\u202f"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_URL = None
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def no_engine_hook(monkeypatch):
    """These tests own their fee lines (no metering recomputation at finalization)."""
    monkeypatch.setattr(billing_invoices, "_fee_recomputer", lambda: None)


def pdf_pages(data: bytes) -> list[str]:
    """Each page's text with every whitespace run (line breaks, no-break spaces) collapsed to one space."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [re.sub(r"\s+", " ", page.extract_text()).strip() for page in reader.pages]


def pdf_text(data: bytes) -> str:
    return " ".join(pdf_pages(data))


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


# --------------------------------------------------------------------------------------------------------------
# Locales (pure)
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "€1,234.56"),
        ("fr", f"1{NNBSP}234,56{NBSP}€"),
        ("de", f"1.234,56{NBSP}€"),
        ("es", f"1.234,56{NBSP}€"),
        ("it", f"1.234,56{NBSP}€"),
        ("nb", f"1{NBSP}234,56{NBSP}€"),
        ("sv", f"1{NBSP}234,56{NBSP}€"),
    ],
)
def test_money_uses_the_locale_separators_and_symbol_placement(locale, expected):
    assert locales.format_money(123456, "EUR", 2, locale) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "exponent", "locale", "expected"),
    [
        (123456, "JPY", 0, "en", "¥123,456"),
        (123456, "JPY", 0, "de", f"123.456{NBSP}¥"),
        (5, "JPY", 0, "en", "¥5"),
        (1234567, "KWD", 3, "en", f"KWD{NBSP}1,234.567"),
        (1234567, "KWD", 3, "fr", f"1{NNBSP}234,567{NBSP}KWD"),
        (5, "KWD", 3, "en", f"KWD{NBSP}0.005"),
        (-1050, "EUR", 2, "en", "-€10.50"),
        (-1050, "EUR", 2, "sv", f"-10,50{NBSP}€"),
        (0, "USD", 2, "en", "$0.00"),
        (123456789012, "NOK", 2, "nb", f"1{NBSP}234{NBSP}567{NBSP}890,12{NBSP}kr"),
        (100, "CHF", 2, "de", f"1,00{NBSP}CHF"),
    ],
)
def test_money_prints_exactly_the_currency_decimals(amount, currency, exponent, locale, expected):
    assert locales.format_money(amount, currency, exponent, locale) == expected


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "November 24, 2026"),
        ("fr", "24 novembre 2026"),
        ("de", "24. November 2026"),
        ("es", "24 de noviembre de 2026"),
        ("it", "24 novembre 2026"),
        ("nb", "24. november 2026"),
        ("sv", "24 november 2026"),
    ],
)
def test_dates_are_written_out_in_the_locale(locale, expected):
    assert locales.format_date(dt.date(2026, 11, 24), locale) == expected


def test_french_writes_the_first_of_the_month_as_premier():
    assert locales.format_date(dt.date(2026, 8, 1), "fr") == "1er août 2026"


def test_units_unit_prices_and_rates_keep_their_meaningful_decimals():
    assert locales.format_units(Decimal("1234.500000000000000"), "en") == "1,234.5"
    assert locales.format_units(Decimal("50.000000000000000"), "de") == "50"
    assert locales.format_unit_price(Decimal("0.0002"), "EUR", 2, "en") == "€0.0002"
    assert locales.format_unit_price(Decimal("1.5"), "EUR", 2, "fr") == f"1,50{NBSP}€"
    assert locales.format_unit_price(Decimal("679"), "JPY", 0, "en") == "¥679"
    assert locales.format_percent(Decimal("5.5"), "fr") == f"5,5{NNBSP}%"
    assert locales.format_percent(Decimal("20.0000"), "en") == "20%"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("fr", "fr"), ("fr-CA", "fr"), ("de_DE", "de"), ("NB", "nb"), ("no", "nb"), ("pt", "en"), (None, "en"),
     ("", "en")],
)  # fmt: skip
def test_unknown_or_regional_locales_fall_back_sensibly(value, expected):
    assert locales.normalize_locale(value) == expected


def test_every_locale_has_every_label():
    assert set(locales.SUPPORTED_LOCALES) == {"en", "fr", "de", "es", "it", "nb", "sv"}
    keys = set(locales.LABELS["en"])
    for locale in locales.SUPPORTED_LOCALES:
        assert set(locales.LABELS[locale]) == keys, locale


# --------------------------------------------------------------------------------------------------------------
# The rendered document
# --------------------------------------------------------------------------------------------------------------


def _full_invoice(organization, *, locale: str | None = None, currency: str = "EUR") -> Invoice:
    """A finalized subscription invoice: plan fee 10 000 (VAT 10 %), a filtered charge 50 × 1.00 and a grouped
    charge 2 500 (VAT 20 %), an add-on 3 000 (VAT 20 %), a once coupon of 1 000."""
    organization.legal_name = "Nordlys Åkerø AS"
    organization.address_line1 = "Storgata 12"
    organization.zipcode, organization.city, organization.country = "0155", "Oslo", "NO"
    organization.tax_identification_number = "NO987654321MVA"
    organization.email = "billing@nordlys.example"
    organization.invoice_footer = "IBAN NO93 8601 1117 947 — thank you"
    organization.save()
    customer = CustomerFactory(
        organization=organization,
        name="Müller & Größe GmbH",
        legal_name="Müller & Größe Gesellschaft mbH",
        address_line1="Königstraße 27",
        zipcode="70173",
        city="Stuttgart",
        country="DE",
        tax_identification_number="DE123456789",
        email="ap@mueller.example",
        currency=currency,
        document_locale=locale,
        net_payment_term=30,
    )
    tax10 = TaxFactory(organization=organization, code="vat_10", name="VAT reduced", rate="10")
    tax20 = TaxFactory(organization=organization, code="vat_20", name="VAT standard", rate="20")
    plan = PlanFactory(
        organization=organization, name="Scale plan", amount_cents=10000, amount_currency=currency
    )
    plan.taxes.set([tax10])
    charge_a = ChargeFactory(plan=plan, billable_metric__name="API calls")
    charge_a.taxes.set([tax20])
    eu = ChargeFilterFactory(charge=charge_a, invoice_display_name="EU region", values={"region": ["eu"]})
    charge_b = ChargeFactory(plan=plan, billable_metric__name="Storage GB")
    charge_b.taxes.set([tax20])
    subscription = SubscriptionFactory(plan=plan, customer=customer)
    add_on = AddOnFactory(organization=organization, name="Onboarding workshop", amount_currency=currency)
    AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, name="Welcome offer", amount_cents=1000),
        customer=customer,
        amount_currency=currency,
    )

    def taxes(fee_type, **sources):
        return applicable_taxes_for_fee(fee_type=fee_type, customer=customer, **sources)

    fees = [
        subscription_fee(subscription, 10000, taxes=taxes("subscription", plan=plan)),
        charge_fee(
            subscription,
            charge_a,
            5000,
            units=50,
            events_count=50,
            charge_filter=eu,
            precise_unit_amount=Decimal("1"),
            taxes=taxes("charge", charge=charge_a, plan=plan),
        ),
        charge_fee(
            subscription,
            charge_b,
            2500,
            units=10,
            events_count=10,
            grouped_by={"region": "nordics"},
            precise_unit_amount=Decimal("2.5"),
            taxes=taxes("charge", charge=charge_b, plan=plan),
        ),
        add_on_fee(add_on, 3000, taxes=[tax20]),
    ]
    return billing_invoices.create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency=currency,
        fees=fees,
        issuing_date=dt.date(2024, 2, 1),
        subscription_periods=[periodic(subscription)],
        finalize=True,
    ).invoice


@pytest.fixture
def full_invoice(organization):
    return _full_invoice(organization)


def test_full_invoice_totals_are_the_ones_the_document_prints(full_invoice):
    invoice = full_invoice
    assert invoice.status == "finalized"
    assert (
        invoice.fees_amount_cents,
        invoice.coupons_amount_cents,
        invoice.sub_total_excluding_taxes_amount_cents,
        invoice.taxes_amount_cents,
        invoice.total_amount_cents,
    ) == (20500, 1000, 19500, 2949, 22449)
    assert sorted(
        (t.tax_rate, t.amount_cents, t.taxable_base_amount_cents) for t in invoice.applied_taxes.all()
    ) == [
        (Decimal("10.0000"), 951, 9512),
        (Decimal("20.0000"), 1998, 9988),
    ]


def test_english_document_shows_every_line_tax_and_total(full_invoice):
    text = pdf_text(documents.render_invoice_pdf(full_invoice))
    number = full_invoice.number
    for expected in [
        "Invoice",
        f"Invoice number {number}",
        "Issue date February 1, 2024",
        "Payment due date March 2, 2024",
        # seller and buyer
        "Nordlys Åkerø AS",
        "Storgata 12",
        "0155 Oslo",
        "Tax ID: NO987654321MVA",
        "billing@nordlys.example",
        "Müller & Größe GmbH",
        "Müller & Größe Gesellschaft mbH",
        "Königstraße 27",
        "70173 Stuttgart",
        "Tax ID: DE123456789",
        # the subscription group and its period
        "Scale plan",
        "Billing period: January 1, 2024 – January 31, 2024",
        # fee lines: description, units, unit price, amount
        "Scale plan 1 €100.00 €100.00",
        "API calls EU region 50 €1.00 €50.00",
        "Storage GB nordics 10 €2.50 €25.00",
        "Other items",
        "Onboarding workshop 1 €30.00 €30.00",
        # totals
        "Coupon: Welcome offer -€10.00",
        "Subtotal (excl. tax) €195.00",
        "VAT standard (20%) on €99.88 €19.98",
        "VAT reduced (10%) on €95.12 €9.51",
        "Subtotal (incl. tax) €224.49",
        "Total due €224.49",
        "Payment terms: due in 30 days",
        "IBAN NO93 8601 1117 947 — thank you",
        "Page 1 of 1",
    ]:
        assert expected in text, expected
    assert "Credit notes" not in text and "Prepaid credits" not in text


LOCALE_EXPECTATIONS = {
    "en": ("Invoice", "Total due €224.49", "Issue date February 1, 2024", "Description", "Page 1 of 1"),
    "fr": (
        "Facture",
        "Total à payer 224,49 €",
        "Date d'émission 1er février 2024",
        "Montant",
        "Page 1 sur 1",
    ),
    "de": ("Rechnung", "Gesamtbetrag 224,49 €", "Rechnungsdatum 1. Februar 2024", "Betrag", "Seite 1 von 1"),
    "es": (
        "Factura",
        "Total a pagar 224,49 €",
        "Fecha de emisión 1 de febrero de 2024",
        "Importe",
        "Página 1 de 1",
    ),
    "it": (
        "Fattura",
        "Totale da pagare 224,49 €",
        "Data di emissione 1 febbraio 2024",
        "Importo",
        "Pagina 1 di 1",
    ),
    "nb": ("Faktura", "Å betale 224,49 €", "Fakturadato 1. februar 2024", "Beløp", "Side 1 av 1"),
    "sv": ("Faktura", "Att betala 224,49 €", "Fakturadatum 1 februari 2024", "Belopp", "Sida 1 av 1"),
}

LOCALE_TAX_LINES = {
    "en": "VAT standard (20%) on €99.88 €19.98",
    "fr": "VAT standard (20 %) sur 99,88 € 19,98 €",
    "de": "VAT standard (20 %) auf 99,88 € 19,98 €",
    "es": "VAT standard (20 %) sobre 99,88 € 19,98 €",
    "it": "VAT standard (20%) su 99,88 € 19,98 €",
    "nb": "VAT standard (20 %) av 99,88 € 19,98 €",
    "sv": "VAT standard (20 %) på 99,88 € 19,98 €",
}


@pytest.mark.parametrize("locale", sorted(LOCALE_EXPECTATIONS))
def test_each_locale_prints_its_labels_numbers_and_dates(organization, locale):
    invoice = _full_invoice(organization, locale=locale)
    text = pdf_text(documents.render_invoice_pdf(invoice))
    title, total, issued, amount_header, page = LOCALE_EXPECTATIONS[locale]
    assert text.startswith(title)
    for expected in (total, issued, amount_header, page, LOCALE_TAX_LINES[locale], invoice.number):
        assert expected in text, expected
    hundred = flat(locales.format_money(10000, "EUR", 2, locale))
    assert f"Scale plan 1 {hundred} {hundred}" in text


def test_locale_falls_back_to_the_organization_then_english(organization):
    organization.document_locale = "de"
    organization.save()
    invoice = _full_invoice(organization, locale=None)
    assert invoice.document_snapshot["locale"] == "de"
    assert pdf_text(documents.render_invoice_pdf(invoice)).startswith("Rechnung")

    invoice.document_snapshot = {**invoice.document_snapshot, "locale": "pt-BR"}
    assert pdf_text(documents.render_invoice_pdf(invoice)).startswith("Invoice")


def test_finalized_document_keeps_the_snapshot_when_the_customer_changes(full_invoice):
    customer = full_invoice.customer
    customer.name, customer.document_locale, customer.address_line1 = "Renamed Inc", "fr", "New street 1"
    customer.save()
    text = pdf_text(documents.render_invoice_pdf(Invoice.objects.get(pk=full_invoice.pk)))
    assert "Müller & Größe GmbH" in text and "Königstraße 27" in text
    assert "Renamed Inc" not in text and "New street 1" not in text
    assert text.startswith("Invoice")


def test_latin_letters_with_diacritics_render_and_extract(organization):
    customer = CustomerFactory(organization=organization, name="Bjørn Ærø Åsa Straße Café Ñandú Ça ÿ")
    invoice = one_off_invoice(customer, amounts=(1000,))
    text = pdf_text(documents.render_invoice_pdf(invoice))
    assert "Bjørn Ærø Åsa Straße Café Ñandú Ça ÿ" in text


def test_markup_characters_in_names_are_printed_literally(organization):
    customer = CustomerFactory(organization=organization, name="AT&T <Research> & Co")
    invoice = one_off_invoice(customer, amounts=(1000,))
    assert "AT&T <Research> & Co" in pdf_text(documents.render_invoice_pdf(invoice))


@pytest.mark.parametrize(
    ("currency", "amounts", "expected"),
    [
        ("JPY", (1234, 5), ("¥1,234", "¥5", "Total due ¥1,239")),
        ("KWD", (1234567, 5), ("KWD 1,234.567", "KWD 0.005", "Total due KWD 1,234.572")),
    ],
)
def test_zero_and_three_decimal_currencies_print_their_own_decimals(
    organization, currency, amounts, expected
):
    customer = CustomerFactory(organization=organization, currency=currency)
    invoice = one_off_invoice(customer, amounts=amounts)
    assert invoice.total_amount_cents == sum(amounts)
    text = pdf_text(documents.render_invoice_pdf(invoice))
    for item in expected:
        assert item in text, item
    assert "¥1,234.00" not in text and "1,234.5670" not in text


def test_jpy_in_german_has_no_decimals(organization):
    customer = CustomerFactory(organization=organization, currency="JPY", document_locale="de")
    invoice = one_off_invoice(customer, amounts=(123456,))
    assert "Gesamtbetrag 123.456 ¥" in pdf_text(documents.render_invoice_pdf(invoice))


def test_credit_notes_and_prepaid_credits_lines_appear_only_when_non_zero(full_invoice):
    full_invoice.credit_notes_amount_cents = 1200
    full_invoice.prepaid_credit_amount_cents = 2000
    full_invoice.total_amount_cents = 22449 - 1200 - 2000
    text = pdf_text(documents.render_invoice_pdf(full_invoice))
    assert "Credit notes -€12.00" in text
    assert "Prepaid credits -€20.00" in text
    assert "Total due €192.49" in text


def test_many_fees_flow_onto_further_pages_with_the_header_repeated(organization):
    customer = CustomerFactory(organization=organization, net_payment_term=0)
    long_name = "A very long add-on name that certainly does not fit in the description column " * 3
    add_ons = [AddOnFactory(organization=organization, name=f"Line {i:03d} {long_name}") for i in range(60)]
    from invoicing.services import create_invoice

    invoice = create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="one_off",
        currency="EUR",
        fees=[add_on_fee(add_on, 100 + i) for i, add_on in enumerate(add_ons)],
        issuing_date=dt.date(2024, 1, 15),
        finalize=True,
    ).invoice
    pages = pdf_pages(documents.render_invoice_pdf(invoice))
    assert len(pages) >= 3
    for index, page in enumerate(pages, start=1):
        assert "Description Units Unit price Amount" in page, index
        assert f"Page {index} of {len(pages)}" in page
        assert invoice.number in page
    text = " ".join(pages)
    for i in range(60):
        assert f"Line {i:03d} A very long" in text
        assert f"€{(100 + i) / 100:.2f}" in text
    assert text.count("does not fit in the description column") == 180  # wrapped, never cut
    assert "Total due €77.70" in pages[-1]
    assert "Payment terms: due upon receipt" in pages[-1]


def test_pure_renderer_wraps_a_single_unbreakable_word():
    word = "X" * 400
    document = InvoiceDocument(
        locale="en",
        currency="EUR",
        exponent=2,
        number="T-1",
        issuing_date=dt.date(2024, 1, 1),
        payment_due_date=dt.date(2024, 1, 1),
        net_payment_term=0,
        seller=Party(name="Seller"),
        buyer=Party(name="Buyer"),
        groups=(FeeGroup(title=None, lines=(FeeLine(description=word, amount_cents=1, units=Decimal(1)),)),),
        sub_total_excluding_taxes_amount_cents=1,
        taxes_amount_cents=0,
        sub_total_including_taxes_amount_cents=1,
        total_amount_cents=1,
    )
    text = pdf_text(render_invoice(document)).replace(" ", "")
    assert word in text


def test_draft_renders_with_its_draft_number_and_stamp(organization):
    customer = CustomerFactory(organization=organization)
    invoice = one_off_invoice(customer, amounts=(1000,), finalize=False)
    text = pdf_text(documents.render_invoice_pdf(invoice))
    assert f"{organization.document_number_prefix}-DRAFT" in text
    assert "DRAFT" in text.split("Invoice number")[0]


# --------------------------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------------------------


def test_generate_stores_the_pdf_under_an_unguessable_path_once(full_invoice, media_root):
    name = documents.generate_invoice_pdf(full_invoice)
    prefix, token, filename = name.split("/")
    assert prefix == "invoices" and filename == f"{full_invoice.number}.pdf"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    stored = media_root / name
    assert stored.read_bytes().startswith(b"%PDF")
    assert Invoice.objects.get(pk=full_invoice.pk).file.name == name

    stored.write_bytes(b"%PDF-kept")  # a second call never re-renders an existing file
    again = Invoice.objects.get(pk=full_invoice.pk)
    assert documents.generate_invoice_pdf(again) == name
    assert stored.read_bytes() == b"%PDF-kept"
    assert len(list((media_root / "invoices").iterdir())) == 1


def test_generate_renders_a_lost_file_again_under_the_same_name(full_invoice, media_root):
    name = documents.generate_invoice_pdf(full_invoice)
    (media_root / name).unlink()
    assert documents.generate_invoice_pdf(Invoice.objects.get(pk=full_invoice.pk)) == name
    assert (media_root / name).read_bytes().startswith(b"%PDF")


def test_generate_refuses_a_draft_and_stores_nothing(organization, media_root):
    invoice = one_off_invoice(CustomerFactory(organization=organization), finalize=False)
    with pytest.raises(errors.NotAllowed) as refused:
        documents.generate_invoice_pdf(invoice)
    assert refused.value.code == "is_draft"
    assert not Invoice.objects.get(pk=invoice.pk).file
    assert not media_root.exists() or not any(media_root.rglob("*.pdf"))


def test_task_generates_the_pdf_and_skips_drafts_and_unknown_ids(full_invoice, organization):
    name = tasks.generate_invoice_pdf.delay(str(full_invoice.pk)).get()
    assert name == Invoice.objects.get(pk=full_invoice.pk).file.name
    assert tasks.generate_invoice_pdf(str(full_invoice.pk)) == name
    draft = one_off_invoice(CustomerFactory(organization=organization), finalize=False)
    assert tasks.generate_invoice_pdf(str(draft.pk)) is None
    assert tasks.generate_invoice_pdf("00000000-0000-0000-0000-000000000000") is None


# --------------------------------------------------------------------------------------------------------------
# Download endpoint and file URL
# --------------------------------------------------------------------------------------------------------------


def _download(api, invoice_id):
    return api.post(f"/api/v1/invoices/{invoice_id}/download", format="json")


def test_download_renders_and_returns_the_invoice_with_an_absolute_file_url(api, full_invoice, client):
    response = _download(api, full_invoice.pk)
    assert response.status_code == 200
    body = response.json()["invoice"]
    assert body["lago_id"] == str(full_invoice.pk)
    assert body["number"] == full_invoice.number
    assert body["total_amount_cents"] == 22449
    assert len(body["fees"]) == 4
    stored = Invoice.objects.get(pk=full_invoice.pk).file.name
    token = stored.split("/")[1]
    assert body["file_url"] == f"http://testserver/documents/invoices/{token}/{full_invoice.number}.pdf"

    fetched = client.get(body["file_url"].removeprefix("http://testserver"))
    assert fetched.status_code == 200
    assert fetched["Content-Type"] == "application/pdf"
    data = b"".join(fetched.streaming_content)
    assert data.startswith(b"%PDF")
    assert "Total due €224.49" in pdf_text(data)

    again = _download(api, full_invoice.pk).json()["invoice"]
    assert again["file_url"] == body["file_url"]
    assert Invoice.objects.get(pk=full_invoice.pk).file.name == stored


def test_file_url_uses_the_public_url_setting(api, full_invoice, settings):
    settings.PUBLIC_URL = "https://billing.example.com/"
    body = _download(api, full_invoice.pk).json()["invoice"]
    assert body["file_url"].startswith("https://billing.example.com/documents/invoices/")
    assert documents.file_url(Invoice.objects.get(pk=full_invoice.pk)) == body["file_url"]


def test_another_organization_cannot_download(full_invoice, media_root):
    other = make_api_client(OrganizationFactory())
    response = _download(other, full_invoice.pk)
    assert response.status_code == 404
    assert response.json()["code"] == "invoice_not_found"
    assert not Invoice.objects.get(pk=full_invoice.pk).file
    assert not media_root.exists() or not any(media_root.rglob("*.pdf"))


def test_drafts_and_voided_invoices_cannot_be_downloaded_as_in_lago(api, organization):
    customer = CustomerFactory(organization=organization)
    draft = one_off_invoice(customer, finalize=False)
    voided = one_off_invoice(customer)
    Invoice.objects.filter(pk=voided.pk).update(status="voided")
    for invoice in (draft, voided):
        response = _download(api, invoice.pk)
        assert response.status_code == 404
        assert response.json()["code"] == "invoice_not_found"
        assert not Invoice.objects.get(pk=invoice.pk).file


@pytest.mark.parametrize("lago_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1" * 300])
def test_download_of_an_unknown_invoice_is_404(api, lago_id):
    response = _download(api, lago_id)
    assert response.status_code == 404
    assert response.json()["code"] == "invoice_not_found"


def test_download_requires_an_api_key(full_invoice, client):
    assert client.post(f"/api/v1/invoices/{full_invoice.pk}/download").status_code == 401


def test_random_or_tampered_document_paths_are_404(api, full_invoice, client):
    body = _download(api, full_invoice.pk).json()["invoice"]
    path = body["file_url"].removeprefix("http://testserver")
    token = path.split("/")[3]
    other_token = "A" * len(token)
    for bad in [
        f"/documents/invoices/{other_token}/{full_invoice.number}.pdf",
        f"/documents/invoices/{token}/OTHER-001.pdf",
        f"/documents/invoices/{token}/{full_invoice.number}.txt",
        f"/documents/invoices/{token[:10]}/{full_invoice.number}.pdf",
        f"/documents/invoices/..%2F..%2Fsettings/{full_invoice.number}.pdf",
    ]:
        assert client.get(bad).status_code == 404, bad
    assert client.post(path).status_code == 405
    assert client.head(path).status_code == 200


def test_lago_client_downloads_an_invoice(lago, settings, tmp_path):
    import requests

    organization = lago.organization
    invoice = _full_invoice(organization)
    response = lago.invoices.download(str(invoice.pk))
    assert response.lago_id == str(invoice.pk)
    assert response.number == invoice.number
    assert response.file_url.endswith(f"/{invoice.number}.pdf")
    fetched = requests.get(response.file_url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Type"] == "application/pdf"
    assert "Total due €224.49" in pdf_text(fetched.content)


@pytest.fixture
def bundled_font_only(monkeypatch):
    """As on a host without DejaVu: the renderer falls back to Bitstream Vera (inside reportlab)."""
    from invoicing import pdf

    monkeypatch.setattr(pdf, "_FONT_CANDIDATES", ())
    pdf._fonts.cache_clear()
    yield pdf
    pdf._fonts.cache_clear()
    monkeypatch.undo()
    pdf._fonts()


def test_without_dejavu_the_bundled_font_still_prints_french_numbers_and_nordic_letters(bundled_font_only):
    pdf = bundled_font_only
    assert 0x202F in pdf._fonts()  # Vera lacks the narrow no-break space: it prints as a no-break space
    document = InvoiceDocument(
        locale="fr",
        currency="EUR",
        exponent=2,
        number="T-2",
        issuing_date=dt.date(2024, 1, 1),
        payment_due_date=dt.date(2024, 1, 1),
        net_payment_term=0,
        seller=Party(name="Åsa Bjørn Straße"),
        buyer=Party(name="Zoë Ærø"),
        groups=(FeeGroup(title=None, lines=(FeeLine(description="Frais", amount_cents=123456),)),),
        sub_total_excluding_taxes_amount_cents=123456,
        taxes_amount_cents=0,
        sub_total_including_taxes_amount_cents=123456,
        total_amount_cents=123456,
    )
    text = pdf_text(render_invoice(document))
    assert "Åsa Bjørn Straße" in text and "Zoë Ærø" in text
    assert "Total à payer 1 234,56 €" in text
