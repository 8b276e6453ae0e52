"""The review page in a real browser (Debian's chromium driven by Playwright, no download):
sign in with a token, click 👍 on three images and 👎 on one → four rows for that user; on a
phone-width screen the grid fits and the keyboard alone gives a verdict."""
from __future__ import annotations

import pytest

from bffkit.bench.serve import ServerProcess
from bffkit.store import open_store

from ..test_browser import CHROMIUM

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test installs it)")]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]


def sign_in(browser, url: str, run_id: str, token: str, viewport: dict):
    page = browser.new_page(viewport=viewport)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{url}/review/{run_id}")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_selector(".card")
    return page, requests


def test_clicks_and_keys_on_the_review_page_are_stored(served_workspace):
    from playwright.sync_api import expect, sync_playwright

    ws, run_id, tokens = served_workspace
    with ServerProcess(ws) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page, requests = sign_in(browser, server.url, run_id, tokens["alice"], {"width": 1280, "height": 900})
        cards = page.locator(".card")
        assert cards.count() == 8  # the tiny run selects 8
        for i, icon in enumerate(["👍", "👍", "👍", "👎"]):
            cards.nth(i).locator(f".choice:has-text('{icon}')").click()
            kind = "positive" if icon == "👍" else "negative"
            expect(cards.nth(i).locator(".ack")).to_have_text(f"saved {icon}", timeout=15_000)
            expect(cards.nth(i).locator(f".choice[data-kind={kind}]")).to_have_attribute("aria-pressed", "true")
        assert all(r.startswith(server.url) for r in requests), "the page reached off the machine"
        assert cards.first.locator("img").evaluate("img => img.naturalWidth") > 0  # its file was served

        phone, _ = sign_in(browser, server.url, run_id, tokens["bob"], {"width": 375, "height": 740})
        assert phone.locator("html").evaluate("el => el.scrollWidth <= window.innerWidth")  # no sideways scroll
        first = phone.locator(".card").first
        assert first.bounding_box()["width"] <= 375
        first.focus()
        phone.keyboard.press("j")  # next image
        phone.keyboard.press("d")  # 👎
        expect(phone.locator(".card .ack").nth(1)).to_have_text("saved 👎", timeout=15_000)
        browser.close()
    fb = open_store(ws).feedback()
    mine = fb[fb["user_id"] == "alice"]
    assert len(mine) == 4 and sorted(mine["feedback_type"]) == ["negative"] + ["positive"] * 3
    assert set(mine["source"]) == {"review"} and mine["image_id"].nunique() == 4
    bobs = fb[fb["user_id"] == "bob"]
    assert list(bobs["feedback_type"]) == ["negative"]
