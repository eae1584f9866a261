"""A buyer in a real browser (Debian's Chromium, driven by Playwright): log in, buy, see the order."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from deploy.commands.context import Cluster
from tests.integration.helpers import create_event, lb

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps calling out to hosts this machine cannot reach.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (TIERS_TEST_TOOLS=1 deploy/bootstrap.sh)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def test_buyer_logs_in_buys_and_sees_the_order(cluster: Cluster, browser, tmp_path: Path) -> None:
    title = f"Browser onsale {uuid.uuid4().hex[:8]}"
    event_id = create_event(30, title)
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{lb(cluster)}/accounts/login/?next=/events/{event_id}/")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", "demo")
    page.click("#login")
    page.wait_for_url(f"**/events/{event_id}/")
    assert title in page.content()
    page.fill("input[name=quantity]", "2")
    page.click("#buy")
    page.wait_for_load_state()
    page.click("#nav-orders")
    page.wait_for_url("**/orders/")
    page.screenshot(path=str(tmp_path / "orders.png"), full_page=True)
    row = page.locator("tr.order", has_text=title)
    assert row.count() == 1
    cells = row.locator("td").all_inner_texts()
    assert cells[1] == title
    assert cells[2] == "2"
    assert cells[3] == "20.00"
    page.close()
