"""Add-ons: POST/GET/PUT/DELETE /add_ons (by code) with tax codes."""

import pytest

from catalog.models import AddOn
from tests.catalog.factories import AddOnFactory
from tests.customers.factories import OrganizationFactory, TaxFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/add_ons"


def create(api, **fields):
    return api.post(URL, {"add_on": fields}, format="json")


def update(api, current_code, **fields):
    return api.put(f"{URL}/{current_code}", {"add_on": fields}, format="json")


def valid(**overrides):
    fields = {"name": "Setup fee", "code": "setup", "amount_cents": 50000, "amount_currency": "EUR"}
    fields.update(overrides)
    return fields


def test_create_returns_lago_shape(api, organization):
    tax = TaxFactory(organization=organization, code="vat", rate="20")
    response = create(
        api, **valid(invoice_display_name="Setup (SF1)", description="Implementation", tax_codes=["vat"])
    )
    assert response.status_code == 200, response.json()
    add_on = AddOn.objects.get()
    assert response.json()["add_on"] == {
        "lago_id": str(add_on.id),
        "name": "Setup fee",
        "invoice_display_name": "Setup (SF1)",
        "code": "setup",
        "amount_cents": 50000,
        "amount_currency": "EUR",
        "description": "Implementation",
        "created_at": add_on.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "taxes": [
            {
                "lago_id": str(tax.id),
                "name": tax.name,
                "code": "vat",
                "description": None,
                "rate": 20.0,
                "applied_to_organization": False,
                "created_at": tax.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ],
    }


def test_zero_amount_is_allowed(api):
    assert create(api, **valid(amount_cents=0)).json()["add_on"]["amount_cents"] == 0


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"name": None}, {"name": ["value_is_mandatory"]}),
        ({"name": ["x"]}, {"name": ["value_is_invalid"]}),
        ({"code": ""}, {"code": ["value_is_mandatory"]}),
        ({"amount_cents": None}, {"amount_cents": ["value_is_mandatory"]}),
        ({"amount_cents": -1}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_cents": 2**63}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_cents": "lots"}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_cents": 10.5}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_currency": None}, {"amount_currency": ["value_is_mandatory"]}),
        ({"amount_currency": "EURO"}, {"amount_currency": ["value_is_invalid"]}),
        ({"amount_currency": "eur"}, {"amount_currency": ["value_is_invalid"]}),
        ({"tax_codes": "vat"}, {"tax_codes": ["value_is_invalid"]}),
        ({"description": {"a": 1}}, {"description": ["value_is_invalid"]}),
    ],
)
def test_invalid_add_on_is_422_and_changes_nothing(api, fields, details):
    response = create(api, **valid(**fields))
    assert response.status_code == 422
    assert response.json()["error_details"] == details
    assert AddOn.objects.count() == 0


def test_unknown_tax_code_is_404_and_changes_nothing(api):
    response = create(api, **valid(tax_codes=["missing"]))
    assert response.status_code == 404
    assert response.json()["code"] == "tax_not_found"
    assert AddOn.objects.count() == 0


def test_duplicate_code_is_value_already_exist_until_deleted(api):
    create(api, **valid())
    response = create(api, **valid(name="Again"))
    assert response.status_code == 422
    assert response.json()["error_details"] == {"code": ["value_already_exist"]}
    deleted = api.delete(f"{URL}/setup")
    assert deleted.status_code == 200 and deleted.json()["add_on"]["code"] == "setup"
    assert AddOn.objects.get().deleted_at is not None
    assert api.get(f"{URL}/setup").status_code == 404
    assert create(api, **valid(name="Again")).status_code == 200


def test_update_changes_given_keys_and_replaces_taxes(api, organization):
    TaxFactory(organization=organization, code="vat")
    TaxFactory(organization=organization, code="gst")
    create(api, **valid(description="d", tax_codes=["vat"]))
    response = update(api, "setup", amount_cents=100, code="onboarding", tax_codes=["gst", "vat"])
    assert response.status_code == 200, response.json()
    body = response.json()["add_on"]
    assert (body["code"], body["amount_cents"], body["description"], body["name"]) == (
        "onboarding",
        100,
        "d",
        "Setup fee",
    )
    assert sorted(t["code"] for t in body["taxes"]) == ["gst", "vat"]
    # Without tax_codes the taxes stay; null or [] removes them.
    assert len(update(api, "onboarding", name="x").json()["add_on"]["taxes"]) == 2
    assert update(api, "onboarding", tax_codes=None).json()["add_on"]["taxes"] == []


def test_refused_update_changes_nothing(api, organization):
    TaxFactory(organization=organization, code="vat")
    create(api, **valid(tax_codes=["vat"]))
    assert update(api, "setup", name="New", amount_cents=-5).status_code == 422
    assert update(api, "setup", name="New", tax_codes=["missing"]).status_code == 404
    add_on = AddOn.objects.get()
    assert add_on.name == "Setup fee" and add_on.amount_cents == 50000
    assert list(add_on.taxes.values_list("code", flat=True)) == ["vat"]


def test_list_paginates_newest_first(api):
    for i in range(3):
        create(api, **valid(code=f"a{i}"))
    page = api.get(URL, {"per_page": 2, "page": 2}).json()
    assert [a["code"] for a in page["add_ons"]] == ["a0"]
    assert page["meta"]["total_count"] == 3 and page["meta"]["prev_page"] == 1


def test_nul_in_the_code_is_404(api):
    assert api.get(f"{URL}/a%00b").status_code == 404


def test_other_organizations_add_ons_are_404(api):
    other = OrganizationFactory()
    theirs = AddOnFactory(organization=other, code="shared")
    TaxFactory(organization=other, code="their_vat")
    assert api.get(f"{URL}/shared").status_code == 404
    assert update(api, "shared", name="Mine").status_code == 404
    assert api.delete(f"{URL}/shared").status_code == 404
    assert api.get(URL).json()["add_ons"] == []
    assert create(api, **valid(code="x", tax_codes=["their_vat"])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.deleted_at is None and theirs.name.startswith("Add-on")


# --- lago-python-client round trip ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_lago_client_round_trip(lago):
    from lago_python_client.exceptions import LagoApiError
    from lago_python_client.models import AddOn, Tax

    lago.taxes.create(Tax(name="VAT", code="vat", rate=20.0))
    lago.taxes.create(Tax(name="GST", code="gst", rate=5.0))
    sent = {
        "name": "Setup fee",
        "code": "setup",
        "invoice_display_name": "Setup (SF1)",
        "description": "Implementation",
        "amount_cents": 50000,
        "amount_currency": "USD",
    }

    def check(response, expected, tax_codes):
        for field, value in expected.items():
            assert getattr(response, field) == value, field
        assert sorted(t.code for t in response.taxes.__root__) == tax_codes
        assert response.lago_id and response.created_at.endswith("Z")

    created = lago.add_ons.create(AddOn(**sent, tax_codes=["vat"]))
    check(created, sent, ["vat"])
    check(lago.add_ons.find("setup"), sent, ["vat"])

    changes = {"name": "Onboarding", "amount_cents": 0, "amount_currency": "EUR"}
    updated = lago.add_ons.update(AddOn(**changes, tax_codes=["gst", "vat"]), "setup")
    check(updated, {**sent, **changes}, ["gst", "vat"])
    check(lago.add_ons.find("setup"), {**sent, **changes}, ["gst", "vat"])

    lago.add_ons.create(AddOn(name="Other", code="other", amount_cents=1, amount_currency="EUR"))
    page = lago.add_ons.find_all({"per_page": 1, "page": 2})
    assert [a.code for a in page["add_ons"]] == ["setup"]
    assert page["meta"]["total_count"] == 2

    assert lago.add_ons.destroy("setup").code == "setup"
    with pytest.raises(LagoApiError) as missing:
        lago.add_ons.find("setup")
    assert missing.value.status_code == 404


# --- admin ----------------------------------------------------------------------------------------

ADMIN = "/admin/catalog/addon/"


def admin_payload(organization, **fields):
    data = {
        "organization": str(organization.pk),
        "name": "Setup",
        "code": "setup",
        "invoice_display_name": "",
        "description": "",
        "amount_cents": "100",
        "amount_currency": "EUR",
    }
    data.update(fields)
    return data


def test_admin_pages_render(admin_client, organization):
    add_on = AddOnFactory(organization=organization)
    assert admin_client.get(f"{ADMIN}?q={add_on.code}").status_code == 200
    assert admin_client.get(f"{ADMIN}add/").status_code == 200
    assert admin_client.get(f"{ADMIN}{add_on.pk}/change/").status_code == 200


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount_cents": "-1"}, "value_is_out_of_range"),
        ({"code": ""}, "This field is required"),
    ],
)
def test_admin_refuses_what_the_api_refuses(admin_client, organization, fields, message):
    response = admin_client.post(f"{ADMIN}add/", admin_payload(organization, **fields))
    assert response.status_code == 200 and message in response.content.decode()
    assert AddOn.objects.count() == 0


def test_admin_refuses_another_organizations_tax(admin_client, organization):
    tax = TaxFactory(organization=OrganizationFactory())
    response = admin_client.post(f"{ADMIN}add/", admin_payload(organization, taxes=[str(tax.pk)]))
    assert response.status_code == 200 and "tax_not_found" in response.content.decode()
    assert AddOn.objects.count() == 0


def test_admin_saves_and_soft_deletes(admin_client, organization):
    tax = TaxFactory(organization=organization)
    assert (
        admin_client.post(f"{ADMIN}add/", admin_payload(organization, taxes=[str(tax.pk)])).status_code == 302
    )
    add_on = AddOn.objects.get()
    assert list(add_on.taxes.all()) == [tax]
    assert admin_client.post(f"{ADMIN}{add_on.pk}/delete/", {"post": "yes"}).status_code == 302
    add_on.refresh_from_db()
    assert add_on.deleted_at is not None
