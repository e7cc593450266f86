"""One organization can never see or change another's data, even knowing its codes and ids."""

import pytest

from catalog.models import Tax
from customers.models import Customer
from tests.conftest import make_api_client
from tests.customers.factories import CustomerFactory, OrganizationFactory, TaxFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_org_data():
    other = OrganizationFactory(name="Other")
    customer = CustomerFactory(organization=other, external_id="shared_id", name="Theirs")
    tax = TaxFactory(organization=other, code="shared_code", rate="7")
    return other, customer, tax


def test_reads_are_scoped(api, other_org_data):
    assert api.get("/api/v1/customers").json()["customers"] == []
    assert api.get("/api/v1/taxes").json()["taxes"] == []
    assert api.get("/api/v1/customers/shared_id").status_code == 404
    assert api.get("/api/v1/taxes/shared_code").status_code == 404
    assert api.get("/api/v1/organizations").json()["organization"]["name"] != "Other"


def test_writes_cannot_touch_another_organization(api, organization, other_org_data):
    other, customer, tax = other_org_data
    assert api.delete("/api/v1/customers/shared_id").status_code == 404
    assert api.delete("/api/v1/taxes/shared_code").status_code == 404
    assert api.put("/api/v1/taxes/shared_code", {"tax": {"rate": "99"}}, format="json").status_code == 404
    # Using the other organization's tax code on our customer fails: codes resolve within our organization.
    response = api.post(
        "/api/v1/customers",
        {"customer": {"external_id": "mine", "tax_codes": ["shared_code"]}},
        format="json",
    )
    assert response.status_code == 404
    # The same external id and code are independent per organization.
    mine = api.post(
        "/api/v1/customers", {"customer": {"external_id": "shared_id", "name": "Ours"}}, format="json"
    )
    assert mine.status_code == 200
    assert (
        api.post(
            "/api/v1/taxes", {"tax": {"name": "T", "code": "shared_code", "rate": "1"}}, format="json"
        ).status_code
        == 200
    )
    api.put("/api/v1/organizations", {"organization": {"name": "Renamed"}}, format="json")

    customer.refresh_from_db()
    tax.refresh_from_db()
    other.refresh_from_db()
    assert customer.name == "Theirs" and customer.deleted_at is None
    assert tax.rate == 7
    assert other.name == "Other"
    assert Customer.objects.filter(external_id="shared_id").count() == 2
    assert Tax.objects.filter(code="shared_code").count() == 2
    assert mine.json()["customer"]["lago_id"] != str(customer.id)


def test_each_key_sees_only_its_own_organization(other_org_data):
    other, _, _ = other_org_data
    theirs = make_api_client(other)
    assert [c["external_id"] for c in theirs.get("/api/v1/customers").json()["customers"]] == ["shared_id"]
    assert theirs.get("/api/v1/organizations").json()["organization"]["lago_id"] == str(other.id)
