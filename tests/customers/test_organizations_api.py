import pytest

from customers.models import Organization
from tests.customers.factories import TaxFactory

pytestmark = pytest.mark.django_db


def test_get_organization(api, organization):
    TaxFactory(organization=organization, code="vat", applied_to_organization=True)
    TaxFactory(organization=organization, code="other", applied_to_organization=False)
    body = api.get("/api/v1/organizations").json()["organization"]
    assert body["lago_id"] == str(organization.id)
    assert body["name"] == organization.name
    assert body["default_currency"] == "EUR"
    assert body["document_numbering"] == "per_customer"
    assert body["billing_configuration"] == {
        "invoice_footer": None,
        "invoice_grace_period": 0,
        "document_locale": "en",
    }
    assert [t["code"] for t in body["taxes"]] == ["vat"]


def test_update_organization(api, organization):
    response = api.put(
        "/api/v1/organizations",
        {
            "organization": {
                "timezone": "Europe/Paris",
                "default_currency": "USD",
                "net_payment_term": 15,
                "document_numbering": "per_organization",
                "document_number_prefix": "acme-1",
                "country": "fr",
                "legal_name": "Acme SAS",
                "webhook_url": "https://hooks.example.com/lago",
                "email_settings": ["invoice.finalized"],
                "finalize_zero_amount_invoice": False,
                "billing_configuration": {
                    "invoice_footer": "Thanks",
                    "invoice_grace_period": 3,
                    "document_locale": "fr",
                },
            }
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()["organization"]
    assert body["timezone"] == "Europe/Paris"
    assert body["default_currency"] == "USD"
    assert body["net_payment_term"] == 15
    assert body["document_numbering"] == "per_organization"
    assert body["document_number_prefix"] == "ACME-1"
    assert body["country"] == "FR"
    assert body["webhook_urls"] == ["https://hooks.example.com/lago"]
    assert body["email_settings"] == ["invoice.finalized"]
    assert body["finalize_zero_amount_invoice"] is False
    assert body["billing_configuration"] == {
        "invoice_footer": "Thanks",
        "invoice_grace_period": 3,
        "document_locale": "fr",
    }
    organization.refresh_from_db()
    assert organization.invoice_grace_period == 3 and organization.document_locale == "fr"


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"timezone": "Nowhere/Land"}, {"timezone": ["invalid_timezone"]}),
        ({"default_currency": "XYZ"}, {"default_currency": ["value_is_invalid"]}),
        ({"document_numbering": "per_month"}, {"document_numbering": ["value_is_invalid"]}),
        (
            {"billing_configuration": {"document_locale": "xx"}},
            {"billing_configuration": {"document_locale": ["value_is_invalid"]}},
        ),
        ({"email_settings": ["spam"]}, {"email_settings": {"0": ["value_is_invalid"]}}),
        ({"net_payment_term": "x"}, {"net_payment_term": ["value_is_invalid"]}),
    ],
)
def test_invalid_update_is_422_and_changes_nothing(api, organization, fields, details):
    before = Organization.objects.values().get(pk=organization.pk)
    response = api.put("/api/v1/organizations", {"organization": fields}, format="json")
    assert response.status_code == 422
    assert response.json()["error_details"] == details
    assert Organization.objects.values().get(pk=organization.pk) == before
