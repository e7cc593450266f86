"""Shared fixtures: organizations with API keys, an authenticated API client, a Lago SDK client."""

from __future__ import annotations

import pytest

# Imports of Django code stay inside the fixtures, so pure-module tests also run without Django.


@pytest.fixture(autouse=True)
def _media_in_tmp(request, tmp_path):
    """Invoice PDFs rendered during tests go to a temporary folder, not .data/media."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield
        return
    settings = request.getfixturevalue("settings")
    settings.MEDIA_ROOT = tmp_path / "media"
    yield


@pytest.fixture
def organization(db):
    from tests.customers.factories import OrganizationFactory

    return OrganizationFactory()


@pytest.fixture
def api_key(organization):
    from customers.services import create_api_key

    _, secret = create_api_key(organization=organization, name="test")
    return secret


@pytest.fixture
def api(api_key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


def make_api_client(organization):
    from rest_framework.test import APIClient

    from customers.services import create_api_key

    _, secret = create_api_key(organization=organization, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def lago(live_server, transactional_db):
    """The official lago-python-client pointed at a live Tollbooth, for a fresh organization."""
    from lago_python_client.client import Client

    from customers.services import create_organization

    organization, secret = create_organization(name="SDK Org", default_currency="EUR")
    client = Client(api_key=secret, api_url=live_server.url, max_retries=0, retry_on_rate_limit=False)
    client.organization = organization
    return client
