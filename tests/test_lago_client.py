"""Wire compatibility: the official lago-python-client against a live Tollbooth."""

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer, Organization, Tax
from lago_python_client.models.customer import CustomerBillingConfiguration, Metadata, MetadataList

pytestmark = pytest.mark.django_db(transaction=True)


def test_taxes_round_trip(lago):
    created = lago.taxes.create(Tax(name="TVA", code="fr_vat", rate=20.0, applied_to_organization=False))
    assert created.code == "fr_vat" and created.rate == 20.0 and created.lago_id

    found = lago.taxes.find("fr_vat")
    assert found.lago_id == created.lago_id

    updated = lago.taxes.update(Tax(rate=5.5), "fr_vat")
    assert updated.rate == 5.5

    for i in range(3):
        lago.taxes.create(Tax(name=f"T{i}", code=f"t{i}", rate=1.0))
    page = lago.taxes.find_all({"per_page": 2, "page": 2})
    assert len(page["taxes"]) == 2
    assert page["meta"]["total_count"] == 4 and page["meta"]["current_page"] == 2

    deleted = lago.taxes.destroy("fr_vat")
    assert deleted.code == "fr_vat"
    with pytest.raises(LagoApiError) as missing:
        lago.taxes.find("fr_vat")
    assert missing.value.status_code == 404


def test_customers_round_trip(lago):
    lago.taxes.create(Tax(name="TVA", code="vat", rate=20.0))
    created = lago.customers.create(
        Customer(
            external_id="sdk_cust",
            name="SDK Customer",
            currency="EUR",
            timezone="Europe/Paris",
            tax_codes=["vat"],
            billing_configuration=CustomerBillingConfiguration(invoice_grace_period=2, document_locale="de"),
            metadata=MetadataList(__root__=[Metadata(key="plan", value="pro", display_in_invoice=True)]),
        )
    )
    assert created.external_id == "sdk_cust"
    assert created.applicable_timezone == "Europe/Paris"
    assert created.billing_configuration.invoice_grace_period == 2
    assert created.taxes.__root__[0].code == "vat"
    assert created.metadata.__root__[0].value == "pro"

    upserted = lago.customers.create(Customer(external_id="sdk_cust", name="Renamed"))
    assert upserted.lago_id == created.lago_id and upserted.name == "Renamed" and upserted.currency == "EUR"

    assert lago.customers.find("sdk_cust").name == "Renamed"
    for i in range(4):
        lago.customers.create(Customer(external_id=f"c{i}"))
    page = lago.customers.find_all({"per_page": 2, "page": 3})
    assert len(page["customers"]) == 1 and page["meta"]["total_pages"] == 3

    assert lago.customers.destroy("sdk_cust").external_id == "sdk_cust"
    with pytest.raises(LagoApiError) as missing:
        lago.customers.find("sdk_cust")
    assert missing.value.status_code == 404


def test_client_raises_with_validation_details(lago):
    with pytest.raises(LagoApiError) as invalid:
        lago.customers.create(Customer(external_id="bad", currency="NOPE"))
    assert invalid.value.status_code == 422
    assert invalid.value.response["error_details"] == {"currency": ["value_is_invalid"]}


def test_organization_update_round_trip(lago):
    updated = lago.organizations.update(
        Organization(default_currency="USD", timezone="America/New_York", net_payment_term=10)
    )
    assert updated.timezone == "America/New_York" and updated.net_payment_term == 10


def test_unauthorized_client(live_server):
    from lago_python_client.client import Client

    client = Client(api_key="wrong", api_url=live_server.url, max_retries=0, retry_on_rate_limit=False)
    with pytest.raises(LagoApiError) as denied:
        client.customers.find_all()
    assert denied.value.status_code == 401
