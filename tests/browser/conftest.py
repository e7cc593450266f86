"""A real headless Chromium driven by Selenium, for back-office flows (tests/browser).

Chromium and its driver come from Debian's packages (``apt-get install -y chromium chromium-driver``): no browser
or driver is downloaded at run time. Without them (or without the ``selenium`` package) these tests are skipped,
saying why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--window-size=1440,1000",
    "--lang=en-US",
)


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (apt-get install -y chromium chromium-driver)"
    if not CHROMEDRIVER.exists() and not shutil.which("chromedriver"):
        return f"{CHROMEDRIVER} is absent (apt-get install -y chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture
def download_dir(tmp_path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(download_dir):
    """A headless Chromium whose downloads (PDFs included, never opened inline) land in `download_dir`."""
    reason = _missing()
    if reason:
        pytest.skip(f"headless browser tests need Chromium: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(download_dir),
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
            "plugins.always_open_pdf_externally": True,
            "safebrowsing.enabled": False,
        },
    )
    driver_path = str(CHROMEDRIVER) if CHROMEDRIVER.exists() else shutil.which("chromedriver")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)}
    )
    try:
        yield driver
    finally:
        driver.quit()
