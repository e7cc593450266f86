"""The finance back office (Django admin), through Django's test client: the invoice list (columns, filters,
search), the read-only invoice page, its acts as list actions and page buttons (the API's services), fee
adjustments on drafts (totals recomputed exactly, kept through refresh and finalization, refused on non-drafts),
PDFs, and the customer page's subscriptions, invoices and current usage.

The draft comes from the billing engine (tests.invoicing.factories.draft_subscription_invoice): refreshing and
finalizing recompute its fees from the events, as in production."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages

from config import errors
from invoicing.models import Fee, Invoice
from invoicing.services import create_invoice
from invoicing.services.adjustments import adjust_fee
from tests.catalog.factories import ChargeFactory, PlanFactory, SubscriptionFactory
from tests.customers.factories import CustomerFactory
from tests.invoicing.factories import charge_fee, draft_subscription_invoice, one_off_invoice, periodic

pytestmark = pytest.mark.django_db

INVOICES = "/admin/invoicing/invoice/"


@pytest.fixture
def scene():
    return draft_subscription_invoice()


def fees_of(invoice) -> dict[str, Fee]:
    return {fee.fee_type: fee for fee in Fee.objects.filter(invoice=invoice)}


def page(invoice) -> str:
    return f"{INVOICES}{invoice.pk}/change/"


def adjust_url(invoice, fee) -> str:
    return f"{INVOICES}{invoice.pk}/fees/{fee.pk}/adjust/"


def act(client, invoice, name, **kwargs):
    return client.post(f"{INVOICES}{invoice.pk}/act/{name}/", **kwargs)


def notes(response) -> list[str]:
    """The messages the request added (and any not yet shown: tests that don't follow redirects look at the
    last ones)."""
    return [str(message) for message in get_messages(response.wsgi_request)]


def totals(invoice) -> tuple[int, int, int, int]:
    invoice.refresh_from_db()
    return (
        invoice.fees_amount_cents,
        invoice.taxes_amount_cents,
        invoice.sub_total_including_taxes_amount_cents,
        invoice.total_amount_cents,
    )


def listed(client, query: str = "") -> set:
    response = client.get(f"{INVOICES}?{query}")
    assert response.status_code == 200
    return {invoice.pk for invoice in response.context["cl"].result_list}


def test_the_engine_draft_is_what_the_scenario_says(scene):
    fees = fees_of(scene.invoice)
    assert scene.invoice.status == "draft"
    assert (fees["subscription"].amount_cents, fees["charge"].amount_cents) == (10_000, 1_500)
    assert totals(scene.invoice) == (11_500, 2_300, 13_800, 13_800)


# --- the list ---------------------------------------------------------------------------------------------------


def test_invoice_list_shows_number_customer_status_and_formatted_total(admin_client, scene):
    one_off = one_off_invoice(scene.customer, [1234])
    response = admin_client.get(INVOICES)
    content = response.content.decode()
    assert response.status_code == 200
    assert "€138.00" in content and "€12.34" in content
    assert one_off.number in content
    assert "Acme Corp (acme)" in content
    assert f"{scene.organization.document_number_prefix}-DRAFT" in content


def test_invoice_list_filters_and_search(admin_client, scene):
    draft = scene.invoice
    paid = one_off_invoice(scene.customer, [500], issuing_date=dt.date(2024, 3, 5))
    admin_client.post(INVOICES, {"action": "mark_payment_succeeded", "_selected_action": [str(paid.pk)]})
    other = CustomerFactory(
        organization=scene.organization,
        external_id="globex",
        name="Globex",
        email="ap@globex.test",
        currency="USD",
    )
    usd = one_off_invoice(other, [700], issuing_date=dt.date(2023, 12, 20))

    assert listed(admin_client) == {draft.pk, paid.pk, usd.pk}
    assert listed(admin_client, "status__exact=draft") == {draft.pk}
    assert listed(admin_client, "status__exact=finalized") == {paid.pk, usd.pk}
    assert listed(admin_client, "payment_status__exact=succeeded") == {paid.pk}
    assert listed(admin_client, "payment_status__exact=pending") == {draft.pk, usd.pk}
    assert listed(admin_client, f"customer__id__exact={other.pk}") == {usd.pk}
    assert listed(admin_client, "currency__exact=USD") == {usd.pk}
    assert listed(admin_client, "invoice_type__exact=one_off") == {paid.pk, usd.pk}
    assert listed(admin_client, "invoice_type__exact=subscription") == {draft.pk}
    assert listed(admin_client, "issuing_date__gte=2024-01-01") == {draft.pk, paid.pk}
    assert listed(admin_client, "issuing_date__gte=2024-01-01&issuing_date__lte=2024-02-28") == {draft.pk}
    assert listed(admin_client, "issuing_date__lte=2023-12-31") == {usd.pk}
    assert listed(admin_client, "issuing_date__gte=not-a-date") == {draft.pk, paid.pk, usd.pk}
    assert listed(admin_client, "issuing_date__year=2024&issuing_date__month=3") == {paid.pk}
    assert listed(admin_client, "q=globex") == {usd.pk}
    assert listed(admin_client, "q=billing@acme") == {draft.pk, paid.pk}
    assert listed(admin_client, f"q={paid.number}") == {paid.pk}
    assert listed(admin_client, "q=acme&status__exact=finalized") == {paid.pk}
    # The range filter keeps the other filters when it is applied.
    content = admin_client.get(f"{INVOICES}?currency__exact=USD").content.decode()
    assert (
        'name="issuing_date__gte"' in content
        and 'type="hidden" name="currency__exact" value="USD"' in content
    )


# --- the invoice page -------------------------------------------------------------------------------------------


def test_the_invoice_page_shows_fees_taxes_totals_and_the_acts_of_its_status(admin_client, scene):
    content = admin_client.get(page(scene.invoice)).content.decode()
    for text in ("Pro", "API calls", "€100.00", "€15.00", "€20.00", "€3.00", "€138.00", "vat_20 20%"):
        assert text in content, text
    assert 'id="act-refresh"' in content and 'id="act-finalize"' in content
    assert 'id="act-void"' not in content and 'id="act-mark_succeeded"' not in content
    assert "Preview PDF" in content
    assert content.count('class="button tb-adjust"') == 2
    assert 'name="_save"' not in content

    finalized = one_off_invoice(scene.customer, [900])
    content = admin_client.get(page(finalized)).content.decode()
    assert (
        'id="act-void"' in content
        and 'id="act-mark_succeeded"' in content
        and 'id="act-mark_failed"' in content
    )
    assert 'id="act-finalize"' not in content and 'class="button tb-adjust"' not in content
    assert "Download PDF" in content


def test_posting_the_invoice_page_changes_nothing(admin_client, scene):
    before = totals(scene.invoice)
    response = admin_client.post(page(scene.invoice), {"status": "finalized", "total_amount_cents": "1"})
    assert (response.status_code, response["Location"]) == (302, page(scene.invoice))
    scene.invoice.refresh_from_db()
    assert scene.invoice.status == "draft" and totals(scene.invoice) == before


def test_invoices_cannot_be_added_or_deleted(admin_client, scene):
    assert admin_client.get(f"{INVOICES}add/").status_code == 403
    assert admin_client.get(f"{INVOICES}{scene.invoice.pk}/delete/").status_code == 403


# --- adjustments ------------------------------------------------------------------------------------------------


def test_adjusting_the_unit_price_recomputes_the_draft_exactly_and_survives_finalization(admin_client, scene):
    charge = fees_of(scene.invoice)["charge"]
    response = admin_client.post(adjust_url(scene.invoice, charge), {"units": "", "unit_price": "0.80"})
    assert response.status_code == 302 and response["Location"] == page(scene.invoice)
    assert notes(response) == ["API calls adjusted: 20 × €0.80 = €16.00; invoice total €139.20."]
    charge = Fee.objects.get(pk=charge.pk)
    assert (charge.adjusted_units, charge.adjusted_unit_amount_cents) == (None, 80)
    assert (charge.units, charge.amount_cents, charge.taxes_amount_cents) == (Decimal(20), 1_600, 320)
    # 10 000 + 1 600 = 11 600; 20 % = 2 320; 13 920.
    assert totals(scene.invoice) == (11_600, 2_320, 13_920, 13_920)

    act(admin_client, scene.invoice, "refresh")
    assert totals(scene.invoice) == (11_600, 2_320, 13_920, 13_920)
    response = act(admin_client, scene.invoice, "finalize")
    scene.invoice.refresh_from_db()
    assert scene.invoice.status == "finalized" and scene.invoice.number
    assert notes(response)[-1] == f"Invoice {scene.invoice.number} finalized."
    assert totals(scene.invoice) == (11_600, 2_320, 13_920, 13_920)
    assert fees_of(scene.invoice)["charge"].amount_cents == 1_600


def test_adjusting_units_alone_reprices_a_charge_with_its_model(admin_client, scene):
    charge = fees_of(scene.invoice)["charge"]
    admin_client.post(adjust_url(scene.invoice, charge), {"units": "30"})
    charge = fees_of(scene.invoice)["charge"]
    # graduated: 10 × 1.00 + 20 × 0.50 = 20.00
    assert (charge.adjusted_units, charge.adjusted_unit_amount_cents) == (Decimal(30), None)
    assert (charge.units, charge.amount_cents) == (Decimal(30), 2_000)
    assert totals(scene.invoice) == (12_000, 2_400, 14_400, 14_400)
    # The engine recomputes the fees from the events: the adjustment is applied again, with the model.
    act(admin_client, scene.invoice, "refresh")
    charge = fees_of(scene.invoice)["charge"]
    assert (charge.units, charge.amount_cents, charge.adjusted_units) == (Decimal(30), 2_000, Decimal(30))
    act(admin_client, scene.invoice, "finalize")
    assert totals(scene.invoice) == (12_000, 2_400, 14_400, 14_400)


def test_adjusting_units_of_the_base_fee_uses_its_unit_price(admin_client, scene):
    base = fees_of(scene.invoice)["subscription"]
    admin_client.post(adjust_url(scene.invoice, base), {"units": "2"})
    assert fees_of(scene.invoice)["subscription"].amount_cents == 20_000
    assert totals(scene.invoice) == (21_500, 4_300, 25_800, 25_800)


def test_adjustments_merge_units_then_price(admin_client, scene):
    charge = fees_of(scene.invoice)["charge"]
    admin_client.post(adjust_url(scene.invoice, charge), {"unit_price": "2.50"})
    admin_client.post(adjust_url(scene.invoice, charge), {"units": "3"})
    charge = Fee.objects.get(invoice=scene.invoice, fee_type="charge")
    assert (charge.adjusted_units, charge.adjusted_unit_amount_cents) == (Decimal(3), 250)
    assert charge.amount_cents == 750
    assert totals(scene.invoice) == (10_750, 2_150, 12_900, 12_900)
    content = admin_client.get(adjust_url(scene.invoice, charge)).content.decode()
    assert 'value="3"' in content and 'value="2.50"' in content  # the form starts from the adjustment


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, None),
        ({"units": "", "unit_price": ""}, None),
        ({"units": "-1"}, "units"),
        ({"units": "abc"}, "units"),
        ({"unit_price": "-0.01"}, "unit_price"),
        ({"unit_price": "0.001"}, "unit_price"),
        ({"unit_price": "99999999999999999999"}, "unit_price"),
        ({"units": "10000000000000"}, "units"),
        ({"unit_price": "10000000000000"}, "unit_price"),
        ({"units": "9999999999999", "unit_price": "9999999999999.99"}, None),  # beyond a bigint
    ],
)
def test_a_malformed_adjustment_is_refused_and_changes_nothing(admin_client, scene, data, field):
    charge = fees_of(scene.invoice)["charge"]
    before = totals(scene.invoice)
    response = admin_client.post(adjust_url(scene.invoice, charge), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors and (field is None or field in form.errors), form.errors
    assert totals(scene.invoice) == before
    assert Fee.objects.get(pk=charge.pk).adjusted_units is None


def test_a_finalized_invoice_refuses_adjustments(admin_client, scene):
    finalized = one_off_invoice(scene.customer, [900])
    fee = Fee.objects.get(invoice=finalized)
    response = admin_client.post(adjust_url(finalized, fee), {"units": "5"})
    assert response.status_code == 302
    assert notes(response) == [
        f"{finalized.number}: fee not adjusted — invoice_not_draft (only a draft's fees can be adjusted)"
    ]
    assert admin_client.get(adjust_url(finalized, fee)).status_code == 302
    fee.refresh_from_db()
    assert (fee.units, fee.amount_cents, fee.adjusted_units) == (Decimal(1), 900, None)
    with pytest.raises(errors.NotAllowed) as refused:
        adjust_fee(fee=fee, units=Decimal(5))
    assert refused.value.code == "invoice_not_draft"
    assert totals(finalized)[3] == 900


def test_unknown_fees_and_invoices_are_404(admin_client, scene):
    other = one_off_invoice(scene.customer, [100], finalize=False)
    foreign_fee = Fee.objects.get(invoice=other)
    assert admin_client.get(adjust_url(scene.invoice, foreign_fee)).status_code == 404
    assert admin_client.get(f"{INVOICES}{scene.invoice.pk}/fees/nope/adjust/").status_code == 404
    assert (
        admin_client.post(f"{INVOICES}00000000-0000-0000-0000-000000000000/act/finalize/").status_code == 404
    )
    assert admin_client.post(f"{INVOICES}{scene.invoice.pk}/act/explode/").status_code == 404
    assert admin_client.get(f"{INVOICES}{scene.invoice.pk}/act/finalize/").status_code == 405
    assert Invoice.objects.get(pk=scene.invoice.pk).status == "draft"


def test_units_alone_are_refused_on_a_percentage_charge(organization):
    customer = CustomerFactory(organization=organization)
    plan = PlanFactory(organization=organization)
    charge = ChargeFactory(plan=plan, charge_model="percentage", properties={"rate": "1"})
    subscription = SubscriptionFactory(plan=plan, customer=customer)
    draft = create_invoice(
        organization=organization,
        customer=customer,
        invoice_type="subscription",
        currency="EUR",
        fees=[charge_fee(subscription, charge, 300, units=300, events_count=3)],
        issuing_date=dt.date(2024, 2, 1),
        subscription_periods=[periodic(subscription)],
        finalize=False,
    ).invoice
    fee = Fee.objects.get(invoice=draft)
    with pytest.raises(errors.ValidationFailed) as refused:
        adjust_fee(fee=fee, units=Decimal(10))
    assert refused.value.error_details == {"charge": ["invalid_charge_model"]}
    fee.refresh_from_db()
    assert (fee.adjusted_units, fee.amount_cents) == (None, 300)
    adjusted = adjust_fee(fee=fee, unit_amount_cents=2)  # a unit price is fine: 300 × 0.02
    assert adjusted.amount_cents == 600
    assert Invoice.objects.get(pk=draft.pk).fees_amount_cents == 600


# --- acts -------------------------------------------------------------------------------------------------------


def test_list_actions_call_the_services_and_report_refusals(admin_client, scene):
    one_off = one_off_invoice(scene.customer, [2_000])
    selected = [str(scene.invoice.pk), str(one_off.pk)]

    response = admin_client.post(INVOICES, {"action": "finalize", "_selected_action": selected})
    assert f"{one_off.number}: not finalized — invoice_not_draft" in notes(response)
    assert "1 invoice(s) finalized." in notes(response)
    scene.invoice.refresh_from_db()
    assert scene.invoice.status == "finalized" and scene.invoice.total_amount_cents == 13_800

    response = admin_client.post(INVOICES, {"action": "mark_payment_succeeded", "_selected_action": selected})
    assert "2 invoice(s) marked paid (succeeded)." in notes(response)
    paid = Invoice.objects.get(pk=one_off.pk)
    assert (paid.payment_status, paid.total_paid_amount_cents) == ("succeeded", 2_000)
    assert set(Fee.objects.filter(invoice=paid).values_list("payment_status", flat=True)) == {"succeeded"}

    admin_client.post(INVOICES, {"action": "mark_payment_failed", "_selected_action": [str(one_off.pk)]})
    failed = Invoice.objects.get(pk=one_off.pk)
    assert (failed.payment_status, failed.total_paid_amount_cents) == ("failed", 0)

    response = admin_client.post(
        INVOICES, {"action": "refresh_drafts", "_selected_action": [str(one_off.pk)]}
    )
    assert notes(response)[-1] == f"{one_off.number}: not refreshed — invoice_not_draft"

    response = admin_client.post(INVOICES, {"action": "void", "_selected_action": selected})
    assert "2 invoice(s) voided." in notes(response)
    assert set(Invoice.objects.filter(pk__in=selected).values_list("status", flat=True)) == {"voided"}
    response = admin_client.post(INVOICES, {"action": "void", "_selected_action": [str(one_off.pk)]})
    assert notes(response)[-1] == f"{one_off.number}: not voided — not_voidable"


def test_a_draft_cannot_be_marked_paid(admin_client, scene):
    response = admin_client.post(
        INVOICES, {"action": "mark_payment_succeeded", "_selected_action": [str(scene.invoice.pk)]}
    )
    assert notes(response)[0].endswith("payment_status_update_on_draft_invoice")
    assert Invoice.objects.get(pk=scene.invoice.pk).payment_status == "pending"


def test_page_buttons_refresh_finalize_mark_and_void(admin_client, scene):
    response = act(admin_client, scene.invoice, "refresh", follow=True)
    assert response.status_code == 200
    assert "refreshed." in response.content.decode()
    response = act(admin_client, scene.invoice, "finalize")
    scene.invoice.refresh_from_db()
    assert (response.status_code, response["Location"]) == (302, page(scene.invoice))
    assert scene.invoice.status == "finalized"
    act(admin_client, scene.invoice, "mark_succeeded")
    scene.invoice.refresh_from_db()
    assert (scene.invoice.payment_status, scene.invoice.total_paid_amount_cents) == ("succeeded", 13_800)
    response = act(admin_client, scene.invoice, "finalize")
    assert notes(response)[-1] == f"{scene.invoice.number}: not finalized — invoice_not_draft"
    act(admin_client, scene.invoice, "void")
    scene.invoice.refresh_from_db()
    assert scene.invoice.status == "voided"


def test_pdfs_download_from_the_page_and_the_list(admin_client, scene, django_capture_on_commit_callbacks):
    preview = admin_client.get(f"{INVOICES}{scene.invoice.pk}/pdf/")
    assert preview["Content-Type"] == "application/pdf" and preview.content.startswith(b"%PDF")
    assert not Invoice.objects.get(pk=scene.invoice.pk).file  # a draft's preview is never stored

    with django_capture_on_commit_callbacks(execute=True):
        act(admin_client, scene.invoice, "finalize")
    scene.invoice.refresh_from_db()
    document = admin_client.get(f"{INVOICES}{scene.invoice.pk}/pdf/")
    assert document["Content-Type"] == "application/pdf"
    assert document["Content-Disposition"] == f'attachment; filename="{scene.invoice.number}.pdf"'
    with scene.invoice.file.open("rb") as stored:
        assert document.content == stored.read()

    other = one_off_invoice(scene.customer, [300])
    archive = admin_client.post(
        INVOICES, {"action": "download_pdfs", "_selected_action": [str(scene.invoice.pk), str(other.pk)]}
    )
    assert archive["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert sorted(names) == sorted([f"{scene.invoice.number}.pdf", f"{other.number}.pdf"])
    single = admin_client.post(INVOICES, {"action": "download_pdfs", "_selected_action": [str(other.pk)]})
    assert single["Content-Type"] == "application/pdf" and single.content.startswith(b"%PDF")


def test_staff_who_may_only_view_cannot_act(client, scene):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_invoice"), Permission.objects.get(codename="view_customer")
    )
    client.force_login(viewer)
    assert client.get(page(scene.invoice)).status_code == 200
    assert 'id="act-finalize"' not in client.get(page(scene.invoice)).content.decode()
    assert act(client, scene.invoice, "finalize").status_code == 403
    charge = fees_of(scene.invoice)["charge"]
    assert client.post(adjust_url(scene.invoice, charge), {"units": "1"}).status_code == 403
    assert client.get(f"{INVOICES}{scene.invoice.pk}/pdf/").status_code == 200
    scene.invoice.refresh_from_db()
    assert scene.invoice.status == "draft" and fees_of(scene.invoice)["charge"].amount_cents == 1_500


# --- the customer page ------------------------------------------------------------------------------------------


def test_the_customer_page_shows_subscriptions_invoices_and_current_usage(admin_client, scene):
    one_off = one_off_invoice(scene.customer, [4_200])
    response = admin_client.get(f"/admin/customers/customer/{scene.customer.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="customer-subscriptions"' in content and "acme_pro" in content and ">pro<" in content
    assert 'id="customer-invoices"' in content and one_off.number in content and "€42.00" in content
    assert f"{scene.organization.document_number_prefix}-DRAFT" in content and "€138.00" in content
    assert f"?customer__id__exact={scene.customer.pk}" in content
    # February so far: 4 units at 1.00 (first tier), 20 % tax.
    assert 'data-subscription="acme_pro"' in content
    assert "€4.00" in content and "€0.80" in content and "€4.80" in content
    assert admin_client.get("/admin/customers/customer/add/").status_code == 200


def test_the_fee_pages_render_and_link_to_the_adjustment(admin_client, scene):
    charge = fees_of(scene.invoice)["charge"]
    assert admin_client.get("/admin/invoicing/fee/").status_code == 200
    content = admin_client.get(f"/admin/invoicing/fee/{charge.pk}/change/").content.decode()
    assert adjust_url(scene.invoice, charge) in content


@pytest.mark.parametrize(
    ("kwargs", "details"),
    [
        ({}, {"base": ["adjustment_is_empty"]}),
        ({"units": "abc"}, {"units": ["value_is_invalid"]}),
        ({"units": True}, {"units": ["value_is_invalid"]}),
        ({"units": 1.5}, {"units": ["value_is_invalid"]}),
        ({"units": "1e-16"}, {"units": ["value_is_invalid"]}),
        ({"units": -1}, {"units": ["value_is_out_of_range"]}),
        ({"unit_amount_cents": "80"}, {"unit_amount_cents": ["value_is_invalid"]}),
        ({"unit_amount_cents": -1}, {"unit_amount_cents": ["value_is_out_of_range"]}),
        (
            {"units": "NaN", "unit_amount_cents": 10**15},
            {"units": ["value_is_invalid"], "unit_amount_cents": ["value_is_out_of_range"]},
        ),
    ],
)
def test_adjust_fee_refuses_malformed_values_and_changes_nothing(scene, kwargs, details):
    charge = fees_of(scene.invoice)["charge"]
    with pytest.raises(errors.ValidationFailed) as refused:
        adjust_fee(fee=charge, **kwargs)
    assert refused.value.error_details == details
    charge.refresh_from_db()
    assert (charge.amount_cents, charge.adjusted_units, charge.adjusted_unit_amount_cents) == (
        1_500,
        None,
        None,
    )
    assert totals(scene.invoice) == (11_500, 2_300, 13_800, 13_800)


def test_a_true_up_fee_is_not_adjustable(scene):
    charge = fees_of(scene.invoice)["charge"]
    true_up = Fee.objects.create(
        organization=scene.organization,
        invoice=scene.invoice,
        customer=scene.customer,
        subscription=scene.subscription,
        charge=scene.subscription.plan.charges.get(),
        fee_type="charge",
        amount_cents=100,
        amount_currency="EUR",
        true_up_parent_fee=charge,
    )
    with pytest.raises(errors.NotAllowed) as refused:
        adjust_fee(fee=true_up, units=Decimal(1))
    assert refused.value.code == "true_up_fee_not_adjustable"
