"""Lago's wire conventions: auth, error envelope, pagination meta, malformed input."""

import pytest
from rest_framework.test import APIClient

from config.api.pagination import pagination_meta
from customers.models import Customer
from customers.services import create_api_key, revoke_api_key
from tests.customers.factories import CustomerFactory, TaxFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Token abc", "Basic Zm9vOmJhcg=="])
def test_missing_or_unknown_key_is_401_in_lago_envelope(header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/customers")
    assert response.status_code == 401
    assert response.json() == {"status": 401, "error": "Unauthorized"}


def test_revoked_key_is_refused(organization):
    api_key, secret = create_api_key(organization=organization, name="temp")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/customers").status_code == 200
    revoke_api_key(api_key=api_key)
    assert client.get("/api/v1/customers").status_code == 401


def test_api_keys_are_stored_hashed(organization):
    api_key, secret = create_api_key(organization=organization)
    api_key.refresh_from_db()
    assert secret not in api_key.digest and len(api_key.digest) == 64
    assert secret.startswith(api_key.prefix)


def test_malformed_json_is_400_and_changes_nothing(api):
    response = api.post(
        "/api/v1/customers", data='{"customer": {"external_id": ', content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and body["error"].startswith("BadRequest")
    assert Customer.objects.count() == 0


@pytest.mark.parametrize("body", ['{"external_id": "x"}', '{"customer": null}', '{"customer": "x"}', "[]"])
def test_missing_root_key_is_400(api, body):
    response = api.post("/api/v1/customers", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "BadRequest: param is missing or the value is empty: customer"
    assert Customer.objects.count() == 0


def test_wrong_method_is_405(api):
    response = api.patch("/api/v1/customers", {}, format="json")
    assert response.status_code == 405
    assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "method_not_allowed"}


def test_unknown_resource_is_404_with_resource_code(api):
    assert api.get("/api/v1/customers/nobody").json() == {
        "status": 404,
        "error": "Not Found",
        "code": "customer_not_found",
    }
    assert api.get("/api/v1/taxes/nothing").json()["code"] == "tax_not_found"


def test_unknown_route_is_404_json(api):
    response = api.get("/api/v1/no_such_thing")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_pagination_meta_matches_lago_example():
    # Ex 12.1: 250 records, per_page=100&page=2
    assert pagination_meta(page=2, per_page=100, total_count=250) == {
        "current_page": 2,
        "next_page": 3,
        "prev_page": 1,
        "total_pages": 3,
        "total_count": 250,
    }
    assert pagination_meta(page=1, per_page=100, total_count=0) == {
        "current_page": 0,
        "next_page": None,
        "prev_page": None,
        "total_pages": 0,
        "total_count": 0,
    }


def test_list_pagination_over_the_api(api, organization):
    Customer.objects.bulk_create(
        CustomerFactory.build(organization=organization, sequential_id=i + 1, external_id=f"c{i:03}")
        for i in range(250)
    )
    response = api.get("/api/v1/customers", {"page": 2, "per_page": 100})
    body = response.json()
    assert len(body["customers"]) == 100
    assert body["meta"] == {
        "current_page": 2,
        "next_page": 3,
        "prev_page": 1,
        "total_pages": 3,
        "total_count": 250,
    }
    last = api.get("/api/v1/customers", {"page": 3, "per_page": 100}).json()
    assert len(last["customers"]) == 50 and last["meta"]["next_page"] is None
    ids = {
        c["external_id"]
        for p in (1, 2, 3)
        for c in api.get("/api/v1/customers", {"page": p}).json()["customers"]
    }
    assert len(ids) == 250


@pytest.mark.parametrize("params", [{"page": "abc"}, {"per_page": "-3"}, {"page": "0"}])
def test_bad_pagination_params_fall_back_to_defaults(api, organization, params):
    TaxFactory(organization=organization)
    response = api.get("/api/v1/taxes", params)
    assert response.status_code == 200
    assert response.json()["meta"]["current_page"] == 1


def test_health_reports_database_and_broker(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.json()["broker"].startswith("ok")


def test_absurdly_nested_json_is_400_not_500(api):
    body = '{"customer": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api.post("/api/v1/customers", data=body, content_type="application/json")
    assert response.status_code == 400
    assert Customer.objects.count() == 0


def test_nul_characters_never_reach_the_database(api):
    assert api.get("/api/v1/customers/a%00b").status_code == 404
    assert api.get("/api/v1/customers", {"search_term": "a\x00"}).status_code == 400
    body = '{"customer": {"external_id": "x\\u0000y"}}'
    response = api.post("/api/v1/customers", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error_details"] == {"external_id": ["null_characters_not_allowed"]}
    assert Customer.objects.count() == 0
