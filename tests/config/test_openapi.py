"""Every operation we serve under /api/v1 exists in Lago's spec (or is a documented extension)."""

import json
from pathlib import Path

import pytest
import yaml
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from config.api.schema import TOLLBOOTH_EXTENSIONS

LAGO_SPEC = Path(__file__).resolve().parents[3] / "shared" / "reference" / "lago-openapi.yaml"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def lago_operations():
    if not LAGO_SPEC.exists():
        pytest.skip(f"Lago spec not found at {LAGO_SPEC}")
    spec = yaml.safe_load(LAGO_SPEC.read_text())
    return {(path, method) for path, item in spec["paths"].items() for method in item if method in METHODS}


@pytest.fixture(scope="module")
def our_schema():
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    warnings = dict(GENERATOR_STATS._warn_cache)
    errors = dict(GENERATOR_STATS._error_cache)
    return schema, warnings, errors


def test_schema_builds_without_warnings(our_schema):
    _, warnings, errors = our_schema
    assert warnings == {}
    assert errors == {}


def test_every_served_operation_is_in_lagos_spec(our_schema, lago_operations):
    schema, _, _ = our_schema
    ours = {(path, method) for path, item in schema["paths"].items() for method in item if method in METHODS}
    assert ours, "no operations found"
    assert ours - lago_operations - TOLLBOOTH_EXTENSIONS == set()
    assert ours >= TOLLBOOTH_EXTENSIONS


def test_schema_and_docs_are_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "/customers" in json.loads(response.content)["paths"]
    assert client.get("/api/v1/docs/").status_code == 200
