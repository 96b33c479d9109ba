"""Headless Chromium (Debian chromium + chromium-driver) against gunicorn on loopback:
create a task in the form, mark it done, see it under the "done" filter and not under "todo"."""

from __future__ import annotations

import shutil

import pytest
from conftest import gunicorn

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path):
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("chromium and chromium-driver must be installed (Debian packages)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def navigate(browser, element) -> None:
    """Click something that loads a new page and wait until the new page has loaded.

    The old page is marked with a window property; the wait ends when the document has no mark
    (a new document) and is complete. While Chromium swaps documents, the driver may answer with
    an error of the moment ("unhandled inspector error", a stale element, no such window context);
    those are asked again until the deadline, and a page that never changes still fails the test."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    browser.execute_script("window.__taskmanagerOldPage = true;")
    element.click()
    WebDriverWait(browser, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda driver: driver.execute_script(
            "return window.__taskmanagerOldPage === undefined && document.readyState === 'complete';"
        ),
        message="the click did not load a new page within 15 s",
    )


def test_create_mark_done_filter(browser, tmp_path):
    from selenium.webdriver.common.by import By

    with gunicorn(tmp_path) as base:
        browser.get(base + "/lang/nb")  # the language switch sets a cookie and lands on the list
        assert browser.find_element(By.TAG_NAME, "h1").text == "Oppgavestyring"
        assert browser.find_element(By.ID, "no-tasks")
        navigate(browser, browser.find_element(By.ID, "new-task"))
        browser.find_element(By.ID, "title").send_keys("Bestill flybilletter")
        browser.find_element(By.ID, "description").send_keys("Oslo → Stockholm")
        navigate(browser, browser.find_element(By.ID, "save"))

        row = browser.find_element(By.CSS_SELECTOR, "#tasks tr.task")
        assert "Bestill flybilletter" in row.text
        assert "status-todo" in row.get_attribute("class")
        assert "Oppgaven ble opprettet." in browser.find_element(By.CSS_SELECTOR, ".flash").text

        navigate(browser, row.find_element(By.CSS_SELECTOR, "button.mark-done"))
        row = browser.find_element(By.CSS_SELECTOR, "#tasks tr.task")
        assert "status-done" in row.get_attribute("class")
        assert row.find_element(By.CSS_SELECTOR, ".status").text == "Ferdig"

        navigate(browser, browser.find_element(By.ID, "filter-done"))
        assert browser.current_url.endswith("/?status=done")
        titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#tasks td.title")]
        assert titles == ["Bestill flybilletter"]

        navigate(browser, browser.find_element(By.ID, "filter-todo"))
        assert browser.find_elements(By.CSS_SELECTOR, "#tasks tr.task") == []
        assert browser.find_element(By.ID, "no-tasks")
        # The CSP allows the stylesheet; nothing was blocked on the way.
        errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
        assert errors == []
