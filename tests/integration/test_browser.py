"""A buyer in a real browser (Debian's Chromium, driven by Playwright): log in, buy, see the order; wait in
an onsale's line, then buy."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from deploy.commands.context import Cluster
from tests.conftest import deploy_cli
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


def test_buyer_waits_in_line_then_buys_with_the_admission(cluster: Cluster, browser) -> None:
    """During an onsale the event page leads to the waiting room; once admitted, its buy form works."""
    title = f"Browser waiting room {uuid.uuid4().hex[:8]}"
    out = deploy_cli(
        "manage", "create_event", title, "--capacity", "10", "--onsale", "--checkout-capacity", "5"
    ).stdout  # fmt: skip
    event_id = json.loads(out.strip().splitlines()[-1])["id"]
    page = browser.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{lb(cluster)}/accounts/login/?next=/events/{event_id}/")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", "demo")
    page.click("#login")
    page.wait_for_url(f"**/events/{event_id}/")
    assert page.locator("#buy").count() == 0, "no direct buy form during an onsale"
    page.click("#join-queue")
    page.wait_for_url(f"**/events/{event_id}/queue")
    page.wait_for_selector("#admitted-form:not([hidden])")
    assert "your turn" in page.inner_text("#queue-state")
    page.click("#buy")
    page.wait_for_url("**/orders/")
    assert page.locator("tr.order", has_text=title).count() == 1
    page.close()
