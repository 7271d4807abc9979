"""Real-browser tests: headless Debian Chromium driven by Playwright for Python, against gunicorn on loopback.

They run when Chromium (CHROMIUM_PATH, default /usr/bin/chromium) and the playwright package are present,
and are skipped with a clear reason otherwise. Screenshots go to E2E_SCREENSHOTS (default
artifacts/screenshots/), which CI keeps as artifacts.
"""
import os
import re
from pathlib import Path

import pytest

from models import db
from tests._servers import gunicorn

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]
SCREENSHOTS = Path(os.environ.get("E2E_SCREENSHOTS", Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"))


def _unavailable():
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium not found at {CHROMIUM} (install Debian's chromium package or set CHROMIUM_PATH)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements.txt)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _unavailable()
    if reason is None:
        return
    marker = pytest.mark.skip(reason=f"browser tests skipped: {reason}")
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(marker)


@pytest.fixture
def live_server(app, tmp_path):
    """Serve the test database with gunicorn (2 workers, 4 threads each) on loopback; yield its base URL."""
    # The server owns the database from now on: this process must not hold a transaction (on SQLite its
    # writes would wait for our lock). Objects of the fixtures are detached; tests use plain logins.
    db.session.commit()
    db.session.close()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with gunicorn(url, tmp_path, count=1, workers=2, threads=4) as urls:
        yield urls[0]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


class Screens:
    """Numbered screenshots of one test in SCREENSHOTS/<test name>/."""

    def __init__(self, name):
        self.folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", name)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def __call__(self, page, label):
        self.count += 1
        path = self.folder / f"{self.count:02d}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screens(request):
    return Screens(request.node.name)


@pytest.fixture
def new_page(browser, live_server):
    """Open pages in fresh browser contexts (one per user) with Russian as the browser language."""
    contexts = []

    def open_page():
        context = browser.new_context(base_url=live_server, locale="ru-RU", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page, login, password):
    page.goto("/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.locator("form:has(input[name=password])").locator("[type=submit]").click()
    page.wait_for_load_state()
