"""POST /customers (upsert by external_id), GET list with filters, GET one, DELETE."""

import pytest

from customers.models import Customer, CustomerMetadata
from tests.customers.factories import TaxFactory

pytestmark = pytest.mark.django_db


def create(api, **fields):
    return api.post("/api/v1/customers", {"customer": fields}, format="json")


def test_create_returns_lago_shape(api, organization):
    tax = TaxFactory(organization=organization, code="vat_fr", rate="20")
    response = create(
        api,
        external_id="acme",
        name="Acme",
        currency="EUR",
        timezone="Europe/Paris",
        country="fr",
        email="billing@acme.test,cfo@acme.test",
        net_payment_term=30,
        tax_codes=["vat_fr"],
        billing_configuration={
            "invoice_grace_period": 3,
            "document_locale": "fr",
            "payment_provider": "stripe",
        },
        shipping_address={"city": "Lyon", "country": "FR"},
        metadata=[{"key": "crm", "value": "42", "display_in_invoice": True}],
    )
    assert response.status_code == 200, response.json()
    body = response.json()["customer"]
    assert body["external_id"] == "acme"
    assert body["sequential_id"] == 1
    assert body["slug"] == f"{organization.document_number_prefix}-001"
    assert body["country"] == "FR"
    assert body["applicable_timezone"] == "Europe/Paris"
    assert body["net_payment_term"] == 30
    assert body["billing_configuration"]["invoice_grace_period"] == 3
    assert body["billing_configuration"]["document_locale"] == "fr"
    assert body["billing_configuration"]["payment_provider"] == "stripe"
    assert body["shipping_address"]["city"] == "Lyon"
    assert [t["code"] for t in body["taxes"]] == ["vat_fr"]
    assert body["taxes"][0]["lago_id"] == str(tax.id)
    assert body["metadata"][0]["key"] == "crm" and body["metadata"][0]["display_in_invoice"] is True
    assert body["created_at"].endswith("Z")


def test_post_with_existing_external_id_updates_only_given_keys(api, organization):
    create(api, external_id="acme", name="Acme", currency="EUR", city="Paris")
    response = create(api, external_id="acme", name="Acme Corp")
    body = response.json()["customer"]
    assert body["name"] == "Acme Corp" and body["city"] == "Paris" and body["currency"] == "EUR"
    assert Customer.objects.filter(organization=organization).count() == 1


def test_applicable_timezone_falls_back_to_organization(api, organization):
    organization.timezone = "America/New_York"
    organization.save()
    body = create(api, external_id="x").json()["customer"]
    assert body["timezone"] is None and body["applicable_timezone"] == "America/New_York"


def test_metadata_is_replaced_as_a_set(api):
    first = create(api, external_id="m", metadata=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    meta_a = next(m for m in first.json()["customer"]["metadata"] if m["key"] == "a")
    second = create(api, external_id="m", metadata=[{"id": meta_a["lago_id"], "key": "a", "value": "9"}])
    metadata = second.json()["customer"]["metadata"]
    assert [(m["key"], m["value"]) for m in metadata] == [("a", "9")]
    assert metadata[0]["lago_id"] == meta_a["lago_id"]
    assert CustomerMetadata.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"name": "no id"}, {"external_id": ["value_is_mandatory"]}),
        ({"external_id": "x", "currency": "EURO"}, {"currency": ["value_is_invalid"]}),
        ({"external_id": "x", "timezone": "Mars/Olympus"}, {"timezone": ["invalid_timezone"]}),
        ({"external_id": "x", "country": "XX"}, {"country": ["country_code_invalid"]}),
        ({"external_id": "x", "net_payment_term": "soon"}, {"net_payment_term": ["value_is_invalid"]}),
        ({"external_id": "x", "net_payment_term": -1}, {"net_payment_term": ["value_is_out_of_range"]}),
        ({"external_id": "x", "customer_type": "alien"}, {"customer_type": ["value_is_invalid"]}),
        ({"external_id": "x", "name": {"first": "A"}}, {"name": ["value_is_invalid"]}),
        ({"external_id": "x", "email": "not-an-email"}, {"email": ["value_is_invalid"]}),
        (
            {"external_id": "x", "billing_configuration": {"invoice_grace_period": "x"}},
            {"billing_configuration": {"invoice_grace_period": ["value_is_invalid"]}},
        ),
        (
            {"external_id": "x", "metadata": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
            {"metadata": ["value_already_exist"]},
        ),
    ],
)
def test_invalid_input_is_422_with_field_details_and_changes_nothing(api, fields, details):
    response = create(api, **fields)
    assert response.status_code == 422
    assert response.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }
    assert Customer.objects.count() == 0


def test_invalid_update_changes_nothing(api):
    create(api, external_id="acme", name="Acme", currency="EUR")
    response = create(api, external_id="acme", name="Changed", timezone="Nowhere/Land")
    assert response.status_code == 422
    assert Customer.objects.get(external_id="acme").name == "Acme"


def test_unknown_tax_code_is_404_and_changes_nothing(api):
    response = create(api, external_id="acme", tax_codes=["missing"])
    assert response.status_code == 404
    assert response.json()["code"] == "tax_not_found"
    assert Customer.objects.count() == 0


def test_get_and_delete(api):
    create(api, external_id="gone", name="Gone")
    assert api.get("/api/v1/customers/gone").json()["customer"]["name"] == "Gone"
    deleted = api.delete("/api/v1/customers/gone")
    assert deleted.status_code == 200 and deleted.json()["customer"]["external_id"] == "gone"
    assert api.get("/api/v1/customers/gone").status_code == 404
    assert api.delete("/api/v1/customers/gone").status_code == 404
    # The external id is free again after deletion, with a new sequential id.
    recreated = create(api, external_id="gone").json()["customer"]
    assert recreated["sequential_id"] == 2


def test_list_filters(api):
    create(api, external_id="a", name="Alpha Co", country="FR", currency="EUR", customer_type="company")
    create(api, external_id="b", name="Beta", country="US", currency="USD", tax_identification_number="US123")
    create(api, external_id="c", name="Gamma", account_type="partner", state="CA", zipcode="94000")
    create(api, external_id="d", name="Delta", metadata=[{"key": "tier", "value": "gold"}])

    def ids(params):
        response = api.get("/api/v1/customers", params)
        assert response.status_code == 200, response.json()
        return sorted(c["external_id"] for c in response.json()["customers"])

    assert ids({}) == ["a", "b", "c", "d"]
    assert ids({"countries[]": ["FR", "US"]}) == ["a", "b"]
    assert ids({"currencies[]": "USD"}) == ["b"]
    assert ids({"account_type[]": "partner"}) == ["c"]
    assert ids({"states[]": "CA"}) == ["c"]
    assert ids({"zipcodes[]": "94000"}) == ["c"]
    assert ids({"customer_type": "company"}) == ["a"]
    assert ids({"has_customer_type": "false"}) == ["b", "c", "d"]
    assert ids({"has_tax_identification_number": "true"}) == ["b"]
    assert ids({"search_term": "alp"}) == ["a"]
    assert ids({"metadata[tier]": "gold"}) == ["d"]


def test_invalid_list_filter_is_422(api):
    response = api.get("/api/v1/customers", {"customer_type": "alien"})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"customer_type": ["value_is_invalid"]}
