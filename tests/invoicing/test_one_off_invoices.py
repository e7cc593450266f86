"""One-off invoices (`POST /invoices`, createInvoice): add-on fees, taxed, finalized at once, numbered, with a PDF;
no coupons; Lago's refusals (each leaves nothing behind); the official lago-python-client round trip."""

from __future__ import annotations

import io
import re

import pypdf
import pytest

from catalog.models import AddOn
from customers.models import Customer
from invoicing.models import AppliedTax, Fee, Invoice
from tests.catalog.factories import AddOnFactory, AppliedCouponFactory, CouponFactory
from tests.customers.factories import CustomerFactory, OrganizationFactory, TaxFactory

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def written() -> tuple[int, int, int]:
    return Invoice.objects.count(), Fee.objects.count(), AppliedTax.objects.count()


@pytest.fixture
def catalog(organization):
    """An EUR customer; add-on `setup` (10.00, taxed 20 % by the add-on) and `support` (4.00, no tax); taxes
    `vat_10` and `vat_5` for explicit tax codes."""
    customer = CustomerFactory(organization=organization, external_id="cust_1", currency="EUR", name="Acme")
    vat_20 = TaxFactory(organization=organization, code="vat_20", rate="20")
    setup = AddOnFactory(organization=organization, code="setup", amount_cents=1000, description="Setup fee")
    setup.taxes.set([vat_20])
    support = AddOnFactory(organization=organization, code="support", amount_cents=400)
    TaxFactory(organization=organization, code="vat_10", rate="10")
    TaxFactory(organization=organization, code="vat_5", rate="5")
    return {"customer": customer, "setup": setup, "support": support}


def create(api, **invoice):
    invoice.setdefault("external_customer_id", "cust_1")
    return api.post("/api/v1/invoices", {"invoice": invoice}, format="json")


def test_one_off_invoice_is_finalized_numbered_and_taxed(api, catalog, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = create(
            api,
            currency="EUR",
            fees=[
                {
                    "add_on_code": "setup",
                    "units": "2.5",
                    "unit_amount_cents": 1200,
                    "description": "Onboarding, 2.5 days",
                    "invoice_display_name": "Onboarding",
                    "tax_codes": ["vat_10", "vat_5"],
                },
                {"add_on_code": "setup"},
                {"add_on_code": "support", "units": 3},
            ],
        )
    assert response.status_code == 200, response.json()
    body = response.json()["invoice"]
    assert (body["invoice_type"], body["status"], body["payment_status"]) == (
        "one_off",
        "finalized",
        "pending",
    )
    assert re.fullmatch(r"[A-Z]{3}-[0-9A-F]{4}-\d{3}-\d{3}", body["number"]), body["number"]
    # 2.5 × 12.00 = 30.00 (10 % + 5 % = 4.50); 1 × 10.00 (add-on tax 20 % = 2.00); 3 × 4.00 untaxed.
    assert body["fees_amount_cents"] == 3000 + 1000 + 1200
    assert body["taxes_amount_cents"] == 300 + 150 + 200
    assert body["coupons_amount_cents"] == 0
    assert body["sub_total_excluding_taxes_amount_cents"] == 5200
    assert body["sub_total_including_taxes_amount_cents"] == 5850
    assert body["total_amount_cents"] == 5850
    assert {t["tax_code"]: t["amount_cents"] for t in body["applied_taxes"]} == {
        "vat_10": 300,
        "vat_5": 150,
        "vat_20": 200,
    }
    onboarding, setup, support = body["fees"]
    assert onboarding["item"]["type"] == "add_on" and onboarding["item"]["code"] == "setup"
    assert onboarding["item"]["invoice_display_name"] == "Onboarding"
    assert (onboarding["units"], onboarding["precise_unit_amount"], onboarding["amount_cents"]) == (
        "2.5",
        "12.0",
        3000,
    )
    assert onboarding["description"] == "Onboarding, 2.5 days"
    assert (onboarding["taxes_amount_cents"], onboarding["total_amount_cents"]) == (450, 3450)
    assert (setup["units"], setup["amount_cents"], setup["description"]) == ("1.0", 1000, "Setup fee")
    assert [t["tax_code"] for t in setup["applied_taxes"]] == ["vat_20"]
    assert (support["units"], support["amount_cents"], support["taxes_amount_cents"]) == ("3.0", 1200, 0)
    # The PDF was rendered after commit, like any finalized invoice.
    invoice = Invoice.objects.get(pk=body["lago_id"])
    assert invoice.file and invoice.finalized_at is not None
    assert invoice.document_snapshot["buyer"]["external_id"] == "cust_1"


def test_the_pdf_of_a_one_off_invoice_shows_its_number_lines_and_total(api, catalog, client):
    body = create(api, fees=[{"add_on_code": "setup", "units": "2", "unit_amount_cents": 2500}]).json()[
        "invoice"
    ]
    downloaded = api.post(f"/api/v1/invoices/{body['lago_id']}/download").json()["invoice"]
    fetched = client.get(downloaded["file_url"].removeprefix("http://testserver"))
    assert fetched["Content-Type"] == "application/pdf"
    text = pdf_text(b"".join(fetched.streaming_content))
    assert body["number"] in text
    assert "€50.00" in text and "€10.00" in text  # the line and its 20 % tax
    assert "€60.00" in text  # the total


def test_rounding_is_half_up_on_units_times_unit_amount(api, catalog):
    body = create(
        api,
        fees=[
            {"add_on_code": "support", "units": "1.5", "unit_amount_cents": 333, "tax_codes": []},
            {"add_on_code": "support", "units": "0.333", "unit_amount_cents": 1000, "tax_codes": []},
        ],
    ).json()["invoice"]
    assert [fee["amount_cents"] for fee in body["fees"]] == [500, 333]  # 499.5 → 500; 333.0
    assert [fee["precise_amount"] for fee in body["fees"]] == ["4.995", "3.33"]
    assert body["total_amount_cents"] == 833


def test_explicit_empty_tax_codes_mean_untaxed(api, catalog):
    body = create(api, fees=[{"add_on_code": "setup", "tax_codes": []}]).json()["invoice"]
    assert (body["fees_amount_cents"], body["taxes_amount_cents"], body["total_amount_cents"]) == (
        1000,
        0,
        1000,
    )


def test_organization_default_taxes_apply_to_an_add_on_without_taxes(api, organization, catalog):
    TaxFactory(organization=organization, code="default_vat", rate="19", applied_to_organization=True)
    body = create(api, fees=[{"add_on_code": "support"}]).json()["invoice"]
    assert (body["taxes_amount_cents"], body["total_amount_cents"]) == (76, 476)


def test_a_zero_amount_one_off_invoice_is_paid_at_once(api, catalog):
    body = create(api, fees=[{"add_on_code": "setup", "unit_amount_cents": 0}]).json()["invoice"]
    assert (body["status"], body["total_amount_cents"], body["payment_status"]) == (
        "finalized",
        0,
        "succeeded",
    )
    assert body["fees"][0]["payment_status"] == "succeeded"


def test_coupons_never_apply_to_one_off_invoices(api, organization, catalog):
    applied = AppliedCouponFactory(
        coupon=CouponFactory(organization=organization, amount_cents=500), customer=catalog["customer"]
    )
    body = create(api, fees=[{"add_on_code": "support"}]).json()["invoice"]
    assert (body["coupons_amount_cents"], body["total_amount_cents"], body["credits"]) == (0, 400, [])
    applied.refresh_from_db()
    assert applied.status == "active"


def test_one_off_invoices_take_consecutive_numbers(api, catalog):
    numbers = [create(api, fees=[{"add_on_code": "support"}]).json()["invoice"]["number"] for _ in range(3)]
    sequences = [int(number.rsplit("-", 1)[1]) for number in numbers]
    assert sequences == [sequences[0], sequences[0] + 1, sequences[0] + 2]


def test_the_customer_currency_is_set_when_it_has_none(api, organization, catalog):
    CustomerFactory(organization=organization, external_id="no_currency", currency=None)
    body = create(api, external_customer_id="no_currency", currency="USD", fees=[{"add_on_code": "support"}])
    assert body.status_code == 200
    assert body.json()["invoice"]["currency"] == "USD"
    assert Customer.objects.get(organization=organization, external_id="no_currency").currency == "USD"


def test_the_currency_defaults_to_the_customers(api, catalog):
    body = create(api, fees=[{"add_on_code": "support"}]).json()["invoice"]
    assert body["currency"] == "EUR"


def test_another_currency_than_the_customers_is_refused(api, catalog):
    before = written()
    response = create(api, currency="USD", fees=[{"add_on_code": "support"}])
    assert response.status_code == 422
    assert response.json()["error_details"] == {"currency": ["currencies_does_not_match"]}
    assert written() == before
    assert Customer.objects.get(pk=catalog["customer"].pk).currency == "EUR"


def test_a_customer_without_currency_and_none_given_is_refused(api, organization, catalog):
    CustomerFactory(organization=organization, external_id="bare", currency=None)
    response = create(api, external_customer_id="bare", fees=[{"add_on_code": "support"}])
    assert response.status_code == 422
    assert response.json()["error_details"] == {"currency": ["value_is_mandatory"]}
    assert Invoice.objects.count() == 0


@pytest.mark.parametrize(
    ("invoice", "code"),
    [
        ({"external_customer_id": "nobody", "fees": [{"add_on_code": "support"}]}, "customer_not_found"),
        ({"external_customer_id": None, "fees": [{"add_on_code": "support"}]}, "customer_not_found"),
        ({"fees": [{"add_on_code": "nothing"}]}, "add_on_not_found"),
        ({"fees": [{"add_on_code": "support"}, {"add_on_code": "nothing"}]}, "add_on_not_found"),
        ({"fees": [{"add_on_code": "support", "tax_codes": ["vat_10", "nope"]}]}, "tax_not_found"),
        ({"fees": []}, "fees_not_found"),
        ({"fees": None}, "fees_not_found"),
        ({"currency": "EUR"}, "fees_not_found"),
    ],
)
def test_unknown_references_are_not_found_and_change_nothing(api, catalog, invoice, code):
    invoice.setdefault("external_customer_id", "cust_1")
    before = written()
    response = api.post("/api/v1/invoices", {"invoice": invoice}, format="json")
    assert (response.status_code, response.json()["code"]) == (404, code)
    assert written() == before


def test_a_deleted_add_on_or_another_organizations_is_not_found(api, organization, catalog):
    AddOn.objects.filter(pk=catalog["setup"].pk).update(deleted_at="2024-01-01T00:00:00Z")
    AddOnFactory(organization=OrganizationFactory(), code="theirs")
    for code in ("setup", "theirs"):
        response = create(api, fees=[{"add_on_code": code}])
        assert (response.status_code, response.json()["code"]) == (404, "add_on_not_found")
    other_customer = CustomerFactory(organization=OrganizationFactory(), external_id="elsewhere")
    response = create(api, external_customer_id=other_customer.external_id, fees=[{"add_on_code": "support"}])
    assert (response.status_code, response.json()["code"]) == (404, "customer_not_found")


@pytest.mark.parametrize(
    ("fee", "details"),
    [
        ({"units": "0"}, {"units": ["value_is_out_of_range"]}),
        ({"units": -1}, {"units": ["value_is_out_of_range"]}),
        ({"units": "0.0000000000000001"}, {"units": ["value_is_out_of_range"]}),
        ({"units": "1e13"}, {"units": ["value_is_out_of_range"]}),
        ({"units": "abc"}, {"units": ["value_is_invalid"]}),
        ({"units": "NaN"}, {"units": ["value_is_invalid"]}),
        ({"units": True}, {"units": ["value_is_invalid"]}),
        ({"units": {"a": 1}}, {"units": ["value_is_invalid"]}),
        ({"unit_amount_cents": -1}, {"unit_amount_cents": ["value_is_out_of_range"]}),
        ({"unit_amount_cents": 2**63}, {"unit_amount_cents": ["value_is_out_of_range"]}),
        ({"unit_amount_cents": "ten"}, {"unit_amount_cents": ["value_is_invalid"]}),
        ({"unit_amount_cents": 12.5}, {"unit_amount_cents": ["value_is_invalid"]}),
        ({"unit_amount_cents": [1]}, {"unit_amount_cents": ["value_is_invalid"]}),
        ({"add_on_code": {"code": "setup"}}, {"add_on_code": ["value_is_invalid"]}),
        ({"add_on_code": None}, {"add_on_code": ["value_is_mandatory"]}),
        ({"tax_codes": "vat_10"}, {"tax_codes": ["value_is_invalid"]}),
        ({"description": {"x": 1}}, {"description": ["value_is_invalid"]}),
        ({"from_datetime": "yesterday"}, {"from_datetime": ["invalid_date"]}),
    ],
)
def test_malformed_fees_are_refused(api, catalog, fee, details):
    before = written()
    response = create(api, fees=[{"add_on_code": "setup", **fee}])
    assert response.status_code == 422, response.json()
    assert response.json()["error_details"] == {"fees": {"0": details}}
    assert written() == before


def test_amounts_beyond_a_bigint_are_refused(api, catalog):
    response = create(api, fees=[{"add_on_code": "setup", "units": "1000000", "unit_amount_cents": 10**14}])
    assert response.status_code == 422
    assert response.json()["error_details"] == {"amount_cents": ["value_is_out_of_range"]}
    assert Invoice.objects.count() == 0


@pytest.mark.parametrize("unit_amount_cents", [10**15, 2**62])
def test_a_unit_price_of_ten_trillion_or_more_is_refused(api, catalog, unit_amount_cents):
    response = create(api, fees=[{"add_on_code": "setup", "unit_amount_cents": unit_amount_cents}])
    assert response.status_code == 422
    assert response.json()["error_details"] == {"unit_amount_cents": ["value_is_out_of_range"]}
    assert Invoice.objects.count() == 0


def test_the_largest_unit_price_is_billed_exactly(api, catalog):
    body = create(api, fees=[{"add_on_code": "setup", "unit_amount_cents": 10**15 - 1, "tax_codes": []}])
    assert body.status_code == 200, body.json()
    fee = body.json()["invoice"]["fees"][0]
    assert (fee["amount_cents"], fee["precise_unit_amount"]) == (10**15 - 1, "9999999999999.99")


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({}, 400),
        ({"invoice": None}, 400),
        ({"invoice": "cust_1"}, 400),
        ({"invoice": {"external_customer_id": {"id": 1}, "fees": [{"add_on_code": "setup"}]}}, 422),
        ({"invoice": {"external_customer_id": "cust_1", "fees": "setup"}}, 422),
        (
            {
                "invoice": {
                    "external_customer_id": "cust_1",
                    "currency": "EURO",
                    "fees": [{"add_on_code": "x"}],
                }
            },
            422,
        ),
    ],
)
def test_malformed_payloads_are_refused(api, catalog, payload, status):
    response = api.post("/api/v1/invoices", payload, format="json")
    assert response.status_code == status
    assert Invoice.objects.count() == 0


def test_from_and_to_datetimes_are_the_fee_boundaries(api, catalog):
    body = create(
        api,
        fees=[
            {
                "add_on_code": "support",
                "from_datetime": "2024-03-01T00:00:00Z",
                "to_datetime": "2024-03-31T23:59:59+00:00",
            }
        ],
    ).json()["invoice"]
    assert (body["fees"][0]["from_date"], body["fees"][0]["to_date"]) == (
        "2024-03-01T00:00:00Z",
        "2024-03-31T23:59:59Z",
    )


def test_requires_an_api_key(client, catalog):
    response = client.post("/api/v1/invoices", {"invoice": {}}, content_type="application/json")
    assert response.status_code == 401


@pytest.mark.django_db(transaction=True)
def test_one_off_invoice_through_the_lago_python_client(lago):
    from lago_python_client.exceptions import LagoApiError
    from lago_python_client.models.invoice import InvoiceFee, InvoiceFeesList, OneOffInvoice

    organization = lago.organization
    CustomerFactory(organization=organization, external_id="sdk_one_off", currency="EUR")
    tax = TaxFactory(organization=organization, code="sdk_vat", rate="21")
    add_on = AddOnFactory(organization=organization, code="sdk_setup", amount_cents=1500)
    add_on.taxes.set([tax])
    TaxFactory(organization=organization, code="sdk_reduced", rate="6")

    invoice = lago.invoices.create(
        OneOffInvoice(
            external_customer_id="sdk_one_off",
            currency="EUR",
            fees=InvoiceFeesList(
                __root__=[
                    InvoiceFee(
                        add_on_code="sdk_setup", units=2.5, unit_amount_cents=1000, description="Work"
                    ),
                    InvoiceFee(
                        add_on_code="sdk_setup", tax_codes=["sdk_reduced"], invoice_display_name="Kit"
                    ),
                ]
            ),
        )
    )
    # 2.5 × 10.00 = 25.00 + 21 % (5.25); 15.00 + 6 % (0.90).
    assert (invoice.invoice_type, invoice.status) == ("one_off", "finalized")
    assert invoice.fees_amount_cents == 4000
    assert invoice.taxes_amount_cents == 525 + 90
    assert invoice.total_amount_cents == 4615
    fees = invoice.fees.__root__
    assert [(fee.units, fee.amount_cents, fee.taxes_amount_cents) for fee in fees] == [
        ("2.5", 2500, 525),
        ("1.0", 1500, 90),
    ]
    assert fees[1].item.invoice_display_name == "Kit"
    assert lago.invoices.find(invoice.lago_id).number == invoice.number

    with pytest.raises(LagoApiError) as refused:
        lago.invoices.create(
            OneOffInvoice(
                external_customer_id="sdk_one_off",
                fees=InvoiceFeesList(__root__=[InvoiceFee(add_on_code="missing")]),
            )
        )
    assert refused.value.status_code == 404
    assert Invoice.objects.filter(organization=organization).count() == 1
