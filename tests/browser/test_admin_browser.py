"""The finance back office in a real headless Chromium against a live Tollbooth: log in, open a draft from the
invoice list, adjust a fee, finalize, download the PDF — checking the totals on the page after each step."""

from __future__ import annotations

import io
import re
import time
import urllib.request
from pathlib import Path

import pypdf
import pytest

from invoicing.models import Fee, Invoice
from tests.invoicing.factories import draft_subscription_invoice

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

PASSWORD = "correct-horse-battery"
WAIT = 20


def wait_for(browser, condition, timeout: float = WAIT):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(condition)


def by_css(browser, selector: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    return wait_for(browser, ec.presence_of_element_located((By.CSS_SELECTOR, selector)))


def click(browser, selector: str) -> None:
    """Click and wait for the next page (the clicked element goes stale)."""
    from selenium.webdriver.support import expected_conditions as ec

    element = by_css(browser, selector)
    element.click()
    wait_for(browser, ec.staleness_of(element))


def readonly(browser, field: str) -> str:
    """The text of a read-only field of the admin page (Django renders `.field-<name> .readonly`)."""
    return by_css(browser, f".field-{field} .readonly").text.strip()


def messages(browser) -> list[str]:
    from selenium.webdriver.common.by import By

    return [element.text.strip() for element in browser.find_elements(By.CSS_SELECTOR, "ul.messagelist li")]


def fee_row(browser, fee: Fee) -> str:
    """The text of a fee's row in the invoice page's fees table."""
    link = by_css(browser, f"#adjust-{fee.pk}") if fee.invoice.status == "draft" else None
    if link is not None:
        return link.find_element("xpath", "./ancestor::tr").text
    return ""


def snapshot(browser, path: Path) -> None:
    """A screenshot of the whole page (the window stretched to the document's height), for a person to look at."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1440, max(height, 1000))
    browser.save_screenshot(str(path))
    browser.set_window_size(1440, 1000)


def wait_for_download(folder: Path, timeout: float = WAIT) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.suffix == ".pdf"]
        if done and not any(p.suffix == ".crdownload" for p in folder.iterdir()):
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no PDF downloaded into {folder}: {list(folder.iterdir())}")


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


@pytest.fixture
def finance_user(transactional_db):
    from django.contrib.auth.models import User

    return User.objects.create_superuser("finance", "finance@tollbooth.test", PASSWORD)


def test_finance_user_reviews_adjusts_finalizes_and_downloads_a_draft(
    browser, live_server, finance_user, download_dir, tmp_path
):
    scene = draft_subscription_invoice()
    draft = scene.invoice
    charge = Fee.objects.select_related("invoice").get(invoice=draft, fee_type="charge")

    # Log in.
    browser.get(f"{live_server.url}/admin/login/?next=/admin/invoicing/invoice/")
    by_css(browser, "#id_username").send_keys("finance")
    by_css(browser, "#id_password").send_keys(PASSWORD)
    click(browser, "input[type=submit]")
    assert browser.current_url.endswith("/admin/invoicing/invoice/")

    # The list: the draft with its total; filter on drafts, then open it.
    click(browser, "a[href$='?status__exact=draft']")
    rows = browser.find_elements("css selector", "#result_list tbody tr")
    assert len(rows) == 1
    assert "€138.00" in rows[0].text and "Acme Corp (acme)" in rows[0].text
    snapshot(browser, tmp_path / "0-list.png")
    click(browser, "#result_list tbody tr th a")
    assert f"/admin/invoicing/invoice/{draft.pk}/change/" in browser.current_url
    assert readonly(browser, "status") == "Draft"
    assert readonly(browser, "fees_amount") == "€115.00"
    assert readonly(browser, "taxes_amount") == "€23.00"
    assert readonly(browser, "total") == "€138.00"
    assert "€15.00" in fee_row(browser, charge)
    snapshot(browser, tmp_path / "1-draft.png")

    # Adjust the usage fee: 20 units at 0.80 instead of the graduated 15.00.
    click(browser, f"#adjust-{charge.pk}")
    assert by_css(browser, "#fee-amount").text == "€15.00"
    assert by_css(browser, "#invoice-total").text == "€138.00"
    by_css(browser, "#id_unit_price").send_keys("0.80")
    snapshot(browser, tmp_path / "2-adjust.png")
    click(browser, "#adjust-submit")
    assert messages(browser) == ["API calls adjusted: 20 × €0.80 = €16.00; invoice total €139.20."]
    assert readonly(browser, "fees_amount") == "€116.00"
    assert readonly(browser, "taxes_amount") == "€23.20"
    assert readonly(browser, "total") == "€139.20"
    assert "€16.00" in fee_row(browser, charge) and "adjusted" in fee_row(browser, charge)
    snapshot(browser, tmp_path / "3-adjusted.png")

    # Finalize: the engine recomputes the fees, the adjustment stays, the invoice gets its number.
    click(browser, "#act-finalize")
    draft.refresh_from_db()
    assert draft.status == "finalized" and draft.number
    assert messages(browser) == [f"Invoice {draft.number} finalized."]
    assert readonly(browser, "status") == "Finalized"
    assert readonly(browser, "display_number") == draft.number
    assert readonly(browser, "total") == "€139.20"
    assert readonly(browser, "total_due") == "€139.20"
    assert browser.find_elements("css selector", "#act-finalize") == []
    assert browser.find_elements("css selector", ".tb-adjust") == []
    snapshot(browser, tmp_path / "4-finalized.png")

    # Download the PDF: the browser saves the stored document; the server answers application/pdf.
    pdf_link = by_css(browser, "#act-pdf")
    assert pdf_link.text.upper() == "DOWNLOAD PDF"
    url = pdf_link.get_attribute("href")
    pdf_link.click()
    downloaded = wait_for_download(download_dir)
    data = downloaded.read_bytes()
    assert data.startswith(b"%PDF")
    assert downloaded.name == f"{draft.number}.pdf"
    text = pdf_text(data)
    assert draft.number in text and "€139.20" in text and "€16.00" in text
    stored = Invoice.objects.get(pk=draft.pk)
    with stored.file.open("rb") as handle:
        assert handle.read() == data

    # The customer's page: its subscription, this invoice, and February's usage so far (4 × 1.00 + 20 % tax).
    click(browser, ".field-customer_link a")
    assert "acme_pro" in by_css(browser, "#customer-subscriptions").text
    assert draft.number in by_css(browser, "#customer-invoices").text
    usage = by_css(browser, ".customer-usage[data-subscription='acme_pro']").text
    assert "Amount €4.00 · taxes €0.80 · total €4.80" in usage
    snapshot(browser, tmp_path / "5-customer.png")

    session = browser.get_cookie("sessionid")["value"]
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={session}"})
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.read() == data


def test_a_refused_act_shows_the_services_error_in_the_browser(browser, live_server, finance_user):
    scene = draft_subscription_invoice()
    browser.get(f"{live_server.url}/admin/login/?next=/admin/invoicing/invoice/{scene.invoice.pk}/change/")
    by_css(browser, "#id_username").send_keys("finance")
    by_css(browser, "#id_password").send_keys(PASSWORD)
    click(browser, "input[type=submit]")
    # Mark the draft paid from the list: the API's service refuses it for a draft.
    browser.get(f"{live_server.url}/admin/invoicing/invoice/")
    by_css(browser, f"input.action-select[value='{scene.invoice.pk}']").click()
    from selenium.webdriver.support.ui import Select

    Select(by_css(browser, "select[name=action]")).select_by_value("mark_payment_succeeded")
    click(browser, "button[name=index]")
    assert any(message.endswith("payment_status_update_on_draft_invoice") for message in messages(browser))
    assert Invoice.objects.get(pk=scene.invoice.pk).payment_status == "pending"
