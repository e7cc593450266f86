"""`PUT /fees/{id}` (updateFee) and `DELETE /fees/{id}` (deleteFee): only fees not attached to an invoice — pay-in-
advance fees that are not invoiceable — as Lago's Fees::UpdateService / Fees::DestroyService; and `GET /fees`
with such fees."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoicing.models import Fee
from tests.catalog.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory
from tests.customers.factories import CustomerFactory, OrganizationFactory
from tests.invoicing.factories import one_off_invoice

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def instant_fee(subscription, charge, *, amount_cents=250, transaction_id="tx_instant", **extra) -> Fee:
    """A pay-in-advance, non-invoiceable charge fee: created per event, never attached to an invoice."""
    return Fee.objects.create(
        organization=subscription.organization,
        customer=subscription.customer,
        subscription=subscription,
        charge=charge,
        fee_type="charge",
        amount_cents=amount_cents,
        precise_amount_cents=Decimal(amount_cents),
        amount_currency="EUR",
        units=Decimal(1),
        events_count=1,
        pay_in_advance=True,
        invoiceable=False,
        event_transaction_id=transaction_id,
        **extra,
    )


@pytest.fixture
def scene(organization):
    customer = CustomerFactory(organization=organization, external_id="cust_fees")
    plan = PlanFactory(organization=organization)
    metric = BillableMetricFactory(organization=organization, code="seats")
    charge = ChargeFactory(plan=plan, billable_metric=metric, pay_in_advance=True, invoiceable=False)
    subscription = SubscriptionFactory(plan=plan, customer=customer, external_id="sub_fees")
    fee = instant_fee(subscription, charge)
    invoiced = Fee.objects.get(invoice=one_off_invoice(customer, [700]))
    return {"fee": fee, "invoiced": invoiced, "subscription": subscription, "charge": charge}


def put(api, fee_id, body):
    return api.put(f"/api/v1/fees/{fee_id}", body, format="json")


def test_update_sets_the_payment_status_and_its_timestamp_only(api, scene):
    fee = scene["fee"]
    response = put(api, fee.pk, {"fee": {"payment_status": "failed"}})
    assert response.status_code == 200
    body = response.json()["fee"]
    assert (body["lago_id"], body["payment_status"]) == (str(fee.pk), "failed")
    assert body["failed_at"] is not None and body["succeeded_at"] is None and body["refunded_at"] is None
    assert body["lago_invoice_id"] is None and body["pay_in_advance"] is True and body["invoiceable"] is False

    body = put(api, fee.pk, {"fee": {"payment_status": "succeeded"}}).json()["fee"]
    assert body["payment_status"] == "succeeded"
    assert body["succeeded_at"] is not None and body["failed_at"] is None

    body = put(api, fee.pk, {"fee": {"payment_status": "refunded"}}).json()["fee"]
    assert body["refunded_at"] is not None and body["succeeded_at"] is None
    stored = Fee.objects.get(pk=fee.pk)
    assert (stored.payment_status, stored.amount_cents) == ("refunded", 250)


def test_update_without_a_payment_status_changes_nothing(api, scene):
    response = put(api, scene["fee"].pk, {"fee": {"description": "ignored"}})
    assert response.status_code == 200
    assert response.json()["fee"]["payment_status"] == "pending"
    assert Fee.objects.get(pk=scene["fee"].pk).succeeded_at is None


def test_an_invoiced_fee_follows_its_invoice(api, scene):
    invoiced = scene["invoiced"]
    response = put(api, invoiced.pk, {"fee": {"payment_status": "succeeded"}})
    assert (response.status_code, response.json()["code"]) == (405, "invoiced_fee")
    stored = Fee.objects.get(pk=invoiced.pk)
    assert (stored.payment_status, stored.succeeded_at) == ("pending", None)


@pytest.mark.parametrize("status", ["paid", "", None, 1, ["succeeded"], {"a": "b"}])
def test_update_refuses_an_unknown_payment_status(api, scene, status):
    response = put(api, scene["fee"].pk, {"fee": {"payment_status": status}})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"payment_status": ["value_is_invalid"]}
    assert Fee.objects.get(pk=scene["fee"].pk).payment_status == "pending"


@pytest.mark.parametrize("body", [{}, {"fee": None}, {"fee": "succeeded"}, {"payment_status": "succeeded"}])
def test_update_without_the_fee_root_is_a_bad_request(api, scene, body):
    assert put(api, scene["fee"].pk, body).status_code == 400


def test_delete_discards_a_fee_not_yet_invoiced(api, scene):
    fee = scene["fee"]
    response = api.delete(f"/api/v1/fees/{fee.pk}")
    assert response.status_code == 200
    body = response.json()["fee"]
    assert (body["lago_id"], body["amount_cents"], body["event_transaction_id"]) == (
        str(fee.pk),
        250,
        "tx_instant",
    )
    assert Fee.objects.get(pk=fee.pk).deleted_at is not None
    assert api.get(f"/api/v1/fees/{fee.pk}").status_code == 404
    assert str(fee.pk) not in {f["lago_id"] for f in api.get("/api/v1/fees").json()["fees"]}
    again = api.delete(f"/api/v1/fees/{fee.pk}")
    assert (again.status_code, again.json()["code"]) == (404, "fee_not_found")
    assert put(api, fee.pk, {"fee": {"payment_status": "succeeded"}}).status_code == 404


def test_delete_refuses_an_invoiced_fee(api, scene):
    invoiced = scene["invoiced"]
    response = api.delete(f"/api/v1/fees/{invoiced.pk}")
    assert (response.status_code, response.json()["code"]) == (405, "invoiced_fee")
    assert Fee.objects.get(pk=invoiced.pk).deleted_at is None
    assert api.get(f"/api/v1/fees/{invoiced.pk}").status_code == 200


@pytest.mark.parametrize("lago_id", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_unknown_fees_are_not_found(api, scene, lago_id):
    for response in (
        put(api, lago_id, {"fee": {"payment_status": "succeeded"}}),
        api.delete(f"/api/v1/fees/{lago_id}"),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "fee_not_found")


def test_another_organizations_fee_is_not_found(api, scene):
    other = OrganizationFactory()
    customer = CustomerFactory(organization=other)
    plan = PlanFactory(organization=other)
    charge = ChargeFactory(plan=plan, pay_in_advance=True, invoiceable=False)
    theirs = instant_fee(SubscriptionFactory(plan=plan, customer=customer), charge)
    assert put(api, theirs.pk, {"fee": {"payment_status": "succeeded"}}).status_code == 404
    assert api.delete(f"/api/v1/fees/{theirs.pk}").status_code == 404
    stored = Fee.objects.get(pk=theirs.pk)
    assert (stored.payment_status, stored.deleted_at) == ("pending", None)


def test_list_filters_cover_fees_without_invoice(api, scene):
    fee, invoiced = scene["fee"], scene["invoiced"]
    put(api, fee.pk, {"fee": {"payment_status": "succeeded"}})

    def ids(**params):
        response = api.get("/api/v1/fees", params)
        assert response.status_code == 200, response.json()
        return {f["lago_id"] for f in response.json()["fees"]}

    assert ids() == {str(fee.pk), str(invoiced.pk)}
    assert ids(external_customer_id="cust_fees") == {str(fee.pk), str(invoiced.pk)}
    assert ids(external_subscription_id="sub_fees") == {str(fee.pk)}
    assert ids(event_transaction_id="tx_instant") == {str(fee.pk)}
    assert ids(billable_metric_code="seats") == {str(fee.pk)}
    assert ids(fee_type="charge") == {str(fee.pk)}
    assert ids(fee_type="add_on") == {str(invoiced.pk)}
    assert ids(payment_status="succeeded") == {str(fee.pk)}
    assert ids(succeeded_at_from="2000-01-01T00:00:00Z") == {str(fee.pk)}
    assert ids(succeeded_at_to="2000-01-01T00:00:00Z") == set()
    assert ids(currency="EUR") == {str(fee.pk), str(invoiced.pk)}
    api.delete(f"/api/v1/fees/{fee.pk}")
    assert ids(payment_status="succeeded") == set()


@pytest.mark.django_db(transaction=True)
def test_fees_update_and_destroy_through_the_lago_python_client(lago):
    from lago_python_client.exceptions import LagoApiError
    from lago_python_client.models.fee import Fee as FeeInput

    organization = lago.organization
    customer = CustomerFactory(organization=organization, external_id="sdk_fees")
    plan = PlanFactory(organization=organization)
    charge = ChargeFactory(plan=plan, pay_in_advance=True, invoiceable=False)
    subscription = SubscriptionFactory(plan=plan, customer=customer, external_id="sdk_fees_sub")
    fee = instant_fee(subscription, charge, transaction_id="sdk_tx")
    invoiced = Fee.objects.get(invoice=one_off_invoice(customer, [900]))

    updated = lago.fees.update(FeeInput(payment_status="succeeded"), str(fee.pk))
    assert (updated.lago_id, updated.payment_status) == (str(fee.pk), "succeeded")
    assert updated.succeeded_at is not None

    with pytest.raises(LagoApiError) as refused:
        lago.fees.update(FeeInput(payment_status="succeeded"), str(invoiced.pk))
    assert refused.value.status_code == 405

    deleted = lago.fees.destroy(str(fee.pk))
    assert deleted.lago_id == str(fee.pk)
    with pytest.raises(LagoApiError) as gone:
        lago.fees.find(str(fee.pk))
    assert gone.value.status_code == 404
    with pytest.raises(LagoApiError) as kept:
        lago.fees.destroy(str(invoiced.pk))
    assert kept.value.status_code == 405
    assert Fee.objects.get(pk=invoiced.pk).deleted_at is None
