"""The web chat in real headless Chromium (Debian's `chromium`, driven by Playwright; nothing downloaded).

Asks a question by keyboard, checks the answer, its source and quote, presses a suggestion chip and
sees a second answer; saves a screenshot to tests/artifacts/. Also: the page's failure messages.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does)")

async_playwright = pytest.importorskip("playwright.async_api").async_playwright


@pytest.fixture
async def base_url(make_client):
    client = await make_client()
    return str(client.make_url("/")).rstrip("/")


@pytest.fixture
async def page():
    """A phone-sized page (360 px wide) that records console errors (CSP violations show up there)."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 360, "height": 780}, locale="zh-TW",
                                            device_scale_factor=2)
        page = await context.new_page()
        page.errors = []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        yield page
        await browser.close()


async def test_ask_read_the_source_and_follow_a_suggestion(base_url, page):
    await page.goto(base_url + "/")
    assert await page.evaluate("document.documentElement.lang") == "zh-Hant"
    # the first suggestion chips arrive from /api/examples
    await page.locator("#examples .chip").first.wait_for()

    # the message box is reachable by its label; type and press Enter to send
    box = page.get_by_label("輸入您的問題")
    await box.focus()
    assert await page.evaluate("document.activeElement.id") == "question"
    await box.fill("iTaiwan 熱點有幾個")
    await box.press("Enter")

    answers = page.locator("#log article.msg.bot:not(.intro)")
    first = answers.nth(0)
    await first.wait_for()
    assert "9,735" in await first.locator("p.text").inner_text()
    assert await box.input_value() == ""  # sent, box cleared
    source = first.locator(".source-line").first
    assert "主軸1" in await source.inner_text() and "來源" in await source.inner_text()
    # the quote is a closed <details>; opening it shows the report's sentence
    quote = first.locator("details.quote").first
    assert await quote.get_attribute("open") is None
    await quote.locator("summary").click()
    assert await quote.get_attribute("open") is not None
    assert "9,735" in await quote.locator("blockquote").inner_text()
    user_msgs = page.locator("#log article.msg.user")
    assert await user_msgs.count() == 1 and "iTaiwan 熱點有幾個" in await user_msgs.first.inner_text()

    # a suggestion chip is a real button that asks its question
    chip = first.locator("button.chip").first
    chip_text = (await chip.inner_text()).strip()
    assert chip_text and await chip.get_attribute("type") == "button"
    await chip.focus()
    await page.keyboard.press("Enter")
    second = answers.nth(1)
    await second.wait_for()
    assert await user_msgs.count() == 2 and chip_text in await user_msgs.nth(1).inner_text()
    second_text = (await second.locator("p.text").inner_text()).strip()
    assert second_text and "錯誤" not in second_text

    # Shift+Enter is a new line, not a send
    await box.fill("第一行")
    await box.press("Shift+Enter")
    assert await answers.count() == 2 and "\n" in await box.input_value()

    # fits a 360 px phone: nothing scrolls sideways
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    # the session id lives in sessionStorage for follow-ups
    assert len(await page.evaluate("sessionStorage.getItem('digibot.session')") or "") >= 16
    assert page.errors == []  # no CSP violations, no script errors

    ARTIFACTS.mkdir(exist_ok=True)
    await box.fill("")
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    shot = ARTIFACTS / "web-chat.png"  # what the phone shows: the second answer above the message box
    await page.screenshot(path=str(shot))
    await page.screenshot(path=str(ARTIFACTS / "web-chat-full.png"), full_page=True)
    assert shot.stat().st_size > 10_000

    # "開始新對話" clears the conversation and starts a new session (no follow-up context carried over)
    old_session = await page.evaluate("sessionStorage.getItem('digibot.session')")
    await page.get_by_role("button", name="開始新對話").click()
    assert await answers.count() == 0 and await user_msgs.count() == 0
    assert await page.evaluate("sessionStorage.getItem('digibot.session')") not in (None, old_session)
    assert await page.evaluate("document.activeElement.id") == "question"


async def test_friendly_messages_on_429_and_network_failure(base_url, page):
    await page.goto(base_url + "/")
    box = page.get_by_label("輸入您的問題")

    async def too_many(route):
        await route.fulfill(status=429, headers={"Retry-After": "17", "Content-Type": "application/json"},
                            body='{"error": "too_many_requests", "message": "slow down"}')

    await page.route("**/api/ask", too_many)
    await box.fill("iTaiwan 熱點有幾個")
    await box.press("Enter")
    error = page.locator("#log article.msg.error").last
    await error.wait_for()
    assert "17 秒" in await error.inner_text()
    assert await box.input_value() == "iTaiwan 熱點有幾個"  # the question is kept to send again

    await page.unroute("**/api/ask")
    await page.route("**/api/ask", lambda route: route.abort("internetdisconnected"))
    await box.press("Enter")
    await page.locator("#log article.msg.error").nth(1).wait_for()
    assert "網路" in await page.locator("#log article.msg.error").nth(1).inner_text()
