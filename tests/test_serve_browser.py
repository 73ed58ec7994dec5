"""``hub serve`` in a real headless browser: Debian's chromium driven by selenium (scripts/install-test-data.sh
installs both), against the real server of conftest's ``hub_server``. Screenshots go under pytest's tmp folder."""

from __future__ import annotations

import pathlib
import shutil
import tempfile

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="the browser tests need the test extra (selenium)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from image_helpers import foolbox_photos  # noqa: E402

import hub_core as hub  # noqa: E402

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMEDRIVER = pathlib.Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1000")
pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason="Debian chromium and chromium-driver are missing: run scripts/install-test-data.sh")


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="hub-serve-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("serve_screenshots")


def visible_names(browser) -> list[str]:
    return [row.get_attribute("data-name") for row in browser.find_elements(By.CSS_SELECTOR, "#catalog tr.model-row")
            if row.is_displayed()]


def follow(browser, url: str, link: str, element_id: str):
    """Open ``url``, click the link ``link`` and wait for the element ``element_id`` of the page it opens."""
    browser.get(url)
    browser.find_element(By.LINK_TEXT, link).click()
    return WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.ID, element_id))[0]


def test_catalog_loads_and_search_filters_as_you_type(browser, hub_server, shots):
    browser.get(hub_server.url)
    assert browser.title == "hub_core"
    listed = set(visible_names(browser))
    assert set(hub.list_models()) <= listed and "broken_import" in listed
    browser.save_screenshot(str(shots / "1_catalog.png"))
    broken = browser.find_element(By.CSS_SELECTOR, 'tr[data-name="broken_import"]')
    assert "broken" in broken.text and "missing_dependency" in broken.text
    browser.execute_script("arguments[0].scrollIntoView()", broken)
    browser.save_screenshot(str(shots / "1b_catalog_broken_plugins.png"))
    browser.find_element(By.ID, "search").send_keys("lite")
    expected = sorted(name for name in hub.list_models() if "lite" in name)
    WebDriverWait(browser, 10).until(lambda b: sorted(visible_names(b)) == expected)
    assert browser.find_element(By.ID, "count").text.startswith(f"{len(expected)} of ")
    browser.save_screenshot(str(shots / "2_search_lite.png"))


def test_open_a_model_page_and_upload_a_real_photo(browser, hub_server, shots):
    assert follow(browser, hub_server.url + "?q=lite", "efficientnet_lite0", "model-name").text == "efficientnet_lite0"
    assert 'hub.load("efficientnet_lite0")' in browser.find_element(By.ID, "snippet").text
    browser.save_screenshot(str(shots / "3_model_page.png"))
    cannon = next(p for p in foolbox_photos() if p.name.endswith("_471.jpg"))  # ImageNet class 471: cannon
    browser.find_element(By.ID, "try-image").send_keys(str(cannon))
    browser.find_element(By.ID, "try-submit").click()
    top1 = WebDriverWait(browser, 120).until(lambda b: b.find_elements(By.ID, "top1"))[0]  # the model loads first
    assert top1.text == "cannon"
    bars = browser.find_elements(By.CSS_SELECTOR, "#top5 li")
    assert len(bars) == 5 and bars[0].find_element(By.CLASS_NAME, "label").text == "cannon"
    browser.save_screenshot(str(shots / "4_try_it_cannon.png"))


def test_open_a_run_page_and_see_its_curves(browser, hub_server, shots):
    curves = follow(browser, hub_server.url + "runs", "digits", "curves")
    assert browser.find_element(By.ID, "run-name").text == "Run digits"
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", curves) > 100
    browser.save_screenshot(str(shots / "5_run_page.png"))
    confusion = browser.find_element(By.ID, "confusion")
    browser.execute_script("arguments[0].scrollIntoView()", confusion)
    assert confusion.is_displayed() and len(confusion.find_elements(By.CSS_SELECTOR, "tbody td")) == 100
    browser.save_screenshot(str(shots / "6_run_confusion_and_card.png"))
