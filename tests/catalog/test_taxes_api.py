import pytest

from catalog.models import Tax

pytestmark = pytest.mark.django_db


def create(api, **fields):
    return api.post("/api/v1/taxes", {"tax": fields}, format="json")


def test_tax_crud(api, organization):
    response = create(
        api, name="TVA", code="fr_vat", rate="20", description="French VAT", applied_to_organization=True
    )
    assert response.status_code == 200, response.json()
    body = response.json()["tax"]
    assert body["code"] == "fr_vat" and body["rate"] == 20.0 and body["applied_to_organization"] is True
    assert Tax.objects.get(code="fr_vat").rate == 20

    updated = api.put("/api/v1/taxes/fr_vat", {"tax": {"rate": "5.5", "code": "fr_reduced"}}, format="json")
    assert updated.status_code == 200
    assert updated.json()["tax"]["rate"] == 5.5 and updated.json()["tax"]["code"] == "fr_reduced"
    assert api.get("/api/v1/taxes/fr_vat").status_code == 404
    assert api.get("/api/v1/taxes/fr_reduced").json()["tax"]["name"] == "TVA"

    listing = api.get("/api/v1/taxes").json()
    assert [t["code"] for t in listing["taxes"]] == ["fr_reduced"] and listing["meta"]["total_count"] == 1

    deleted = api.delete("/api/v1/taxes/fr_reduced")
    assert deleted.status_code == 200 and deleted.json()["tax"]["code"] == "fr_reduced"
    assert Tax.objects.count() == 0


def test_duplicate_code_is_value_already_exist(api):
    create(api, name="A", code="dup", rate="10")
    response = create(api, name="B", code="dup", rate="12")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"code": ["value_already_exist"]}
    assert Tax.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"code": "x", "rate": "1"}, {"name": ["value_is_mandatory"]}),
        ({"name": "x", "rate": "1"}, {"code": ["value_is_mandatory"]}),
        ({"name": "x", "code": "x"}, {"rate": ["value_is_mandatory"]}),
        ({"name": "x", "code": "x", "rate": "abc"}, {"rate": ["value_is_invalid"]}),
        ({"name": "x", "code": "x", "rate": "-1"}, {"rate": ["value_is_out_of_range"]}),
        ({"name": "x", "code": "x", "rate": "101"}, {"rate": ["value_is_out_of_range"]}),
    ],
)
def test_invalid_tax_is_422(api, fields, details):
    response = create(api, **fields)
    assert response.status_code == 422
    assert response.json()["error_details"] == details
    assert Tax.objects.count() == 0
