"""The web chat and the officials' page in real headless Chromium (Debian's `chromium`, driven by
Playwright; nothing downloaded).

The measured part: after every reply, the whole new answer — with its did-you-mean options and its
👍/👎 — lies between the top of the window and the composer, at 390×844 (a phone, touch) and 1280×900,
with and without reduced motion; the boxes are written to tests/artifacts/boxes-*.json. Also: keyboard
use, suggestions, did-you-mean as a question with "none of these", refusals without a source, sources
de-duplicated with distinct accessible names, feedback, the hint that fits the device, the English
interface, failures, and the budget and indicator views. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.tables import budget_table, indicator_table
from bot.teach import review_since
from handlers.web.http import CORE

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "device_scale_factor": 1}
FACT, VAGUE, REFUSED = "iTaiwan 熱點有幾個", "人才", "明天台北天氣如何？"
QUESTIONS = [VAGUE, FACT, REFUSED, "主軸1 2017年預算多少", "MyData 線上服務有幾項？", "1Gbps涵蓋率是拿什麼當分母"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does)")

async_playwright = pytest.importorskip("playwright.async_api").async_playwright

# Resolves once the page has stopped scrolling for 10 frames in a row (a smooth scroll has ended).
SETTLED = """() => new Promise(resolve => {
  let last = null, same = 0;
  function tick() {
    const y = window.scrollY;
    if (y === last) { if (++same >= 10) { resolve(y); return; } } else { same = 0; last = y; }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
})"""
BOXES = """() => {
  const box = n => { const r = n.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, height: r.height}; };
  const answers = document.querySelectorAll('#log article.msg.bot:not(.intro)');
  return {answer: box(answers[answers.length - 1]), composer: box(document.getElementById('composer')),
          viewport: window.innerHeight, scrollY: window.scrollY};
}"""


@pytest.fixture
async def client(make_client):
    return await make_client()


@pytest.fixture
def base_url(client):
    return str(client.make_url("/")).rstrip("/")


@pytest.fixture
async def browser():
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        await browser.close()


async def new_page(browser, device: dict, *, locale: str = "zh-TW", reduced_motion: str = "no-preference"):
    """A page that records console errors (CSP violations show up there)."""
    context = await browser.new_context(locale=locale, reduced_motion=reduced_motion, **device)
    page = await context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


async def ask(page, question: str):
    """Type a question, press Enter, wait for its answer and for scrolling to end; the answer's locator."""
    answers = page.locator("#log article.msg.bot:not(.intro)")
    before = await answers.count()
    box = page.get_by_label("輸入您的問題").or_(page.get_by_label("Your question"))
    await box.fill(question)
    await box.press("Enter")
    answer = answers.nth(before)
    await answer.wait_for()
    await page.wait_for_function("() => document.getElementById('log').getAttribute('aria-busy') === 'false'")
    await page.evaluate(SETTLED)
    return answer


def shot(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


# ------------------------------------------------------------------ the whole answer is visible
@pytest.mark.parametrize("device_name, device", [("phone", PHONE), ("desktop", DESKTOP)])
@pytest.mark.parametrize("motion", ["no-preference", "reduce"])
async def test_every_new_answer_is_wholly_visible_above_the_composer(browser, base_url, device_name, device, motion):
    page = await new_page(browser, device, reduced_motion=motion)
    await page.goto(base_url + "/")
    await page.locator("#examples .chip").first.wait_for()
    measured = []
    for question in QUESTIONS:
        answer = await ask(page, question)
        boxes = await page.evaluate(BOXES)
        measured.append({"question": question, **boxes})
        a, c = boxes["answer"], boxes["composer"]
        assert a["top"] >= 0, (question, boxes)  # its start is not above the window
        assert a["bottom"] <= c["top"], (question, boxes)  # its end is not under the composer
        assert c["bottom"] <= boxes["viewport"] + 0.5  # the composer is on screen
        if question == VAGUE:  # the did-you-mean options and "none of these" are inside the measured box
            assert await answer.get_attribute("data-intent") == "clarify"
            assert await answer.locator(".chip-none").count() == 1
    assert measured[-1]["scrollY"] > 0, "the conversation grew past one screen, so scrolling was exercised"
    if device_name == "phone" and motion == "no-preference":
        await page.screenshot(path=str(shot("phone-chat.png")))
    if device_name == "desktop" and motion == "no-preference":
        await page.screenshot(path=str(shot("desktop-chat.png")))
    assert page.errors == []
    size = f"{device['viewport']['width']}x{device['viewport']['height']}"
    shot(f"boxes-{device_name}-{size}-motion-{motion}.json").write_text(json.dumps(
        [{"question": m["question"], "answer_top": round(m["answer"]["top"], 1),
          "answer_bottom": round(m["answer"]["bottom"], 1), "composer_top": round(m["composer"]["top"], 1),
          "viewport_height": m["viewport"], "scroll_y": m["scrollY"]} for m in measured], ensure_ascii=False, indent=1))


# ------------------------------------------------------------------ what an answer shows
async def test_ask_read_the_source_follow_a_suggestion_and_give_feedback(browser, base_url, client):
    page = await new_page(browser, PHONE)
    await page.goto(base_url + "/")
    assert await page.evaluate("document.documentElement.lang") == "zh-Hant"
    await page.locator("#examples .chip").first.wait_for()
    box = page.get_by_label("輸入您的問題")
    await box.focus()
    assert await page.evaluate("document.activeElement.id") == "question"

    first = await ask(page, FACT)
    assert "9,735" in await first.locator("p.text").inner_text()
    assert await box.input_value() == ""  # sent, box cleared
    source = first.locator(".source-line").first
    assert "主軸1" in await source.inner_text() and "來源" in await source.inner_text()
    quote = first.locator("details.quote").first
    assert await quote.get_attribute("open") is None
    await quote.locator("summary").click()
    assert await quote.get_attribute("open") is not None
    assert "9,735" in await quote.locator("blockquote").first.inner_text()
    assert await first.locator(".chips-label").inner_text() == "延伸問題："

    # 👍/👎: one tap, changeable, taken back by tapping again; stored against the session and the answer.
    core = client.server.app[CORE]
    session = await page.evaluate("sessionStorage.getItem('digibot.session')")
    up, down = first.get_by_role("button", name="有幫助"), first.get_by_role("button", name="不正確")
    await down.click()
    await page.wait_for_function("() => document.getElementById('status').textContent.includes('管理員')")
    assert await down.get_attribute("aria-pressed") == "true" and await up.get_attribute("aria-pressed") == "false"
    rows = core.feedback.needing_review(review_since())
    answer_id = next(r["id"] for r in rows if r["reason"] == "disliked")
    assert core.feedback.user_vote(answer_id, session) == "down"
    await up.click()
    await page.wait_for_function("() => document.getElementById('status').textContent.includes('謝謝您的回饋')")
    assert core.feedback.user_vote(answer_id, session) == "up" and await down.get_attribute("aria-pressed") == "false"
    await up.click()
    await page.wait_for_function("() => document.getElementById('status').textContent.includes('已取消')")
    assert core.feedback.user_vote(answer_id, session) is None

    # A suggestion chip is a real button that asks its question (by keyboard here).
    chip = first.locator("button.chip").first
    chip_text = (await chip.inner_text()).strip()
    await chip.focus()
    await page.keyboard.press("Enter")
    second = page.locator("#log article.msg.bot:not(.intro)").nth(1)
    await second.wait_for()
    user_msgs = page.locator("#log article.msg.user")
    assert await user_msgs.count() == 2 and chip_text in await user_msgs.nth(1).inner_text()

    # Shift+Enter is a new line, not a send.
    await box.fill("第一行")
    await box.press("Shift+Enter")
    assert "\n" in await box.input_value()
    await box.fill("")

    assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing scrolls sideways
    assert len(session or "") >= 16
    assert page.errors == []

    old_session = session
    await page.get_by_role("button", name="開始新對話").click()
    assert await page.locator("#log article.msg:not(.intro)").count() == 0
    assert await page.evaluate("sessionStorage.getItem('digibot.session')") not in (None, old_session)
    assert await page.evaluate("document.activeElement.id") == "question"


@pytest.mark.parametrize("device_name, device", [("phone", PHONE), ("desktop", DESKTOP)])
async def test_did_you_mean_is_a_question_with_none_of_these(browser, base_url, client, device_name, device):
    page = await new_page(browser, device)
    await page.goto(base_url + "/")
    answer = await ask(page, VAGUE)
    assert await answer.get_attribute("data-intent") == "clarify"
    group = answer.get_by_role("group", name="您是想問下列哪一個？")
    assert await group.count() == 1
    options = group.locator("button.chip:not(.chip-none)")
    assert await options.count() >= 1
    assert await answer.locator(".sources").count() == 0  # nothing from the report was stated
    await page.screenshot(path=str(shot(f"{device_name}-did-you-mean.png")))
    none = group.get_by_role("button", name="都不是，我換個說法")
    async with page.expect_response("**/api/feedback") as sent:
        await none.click()
    assert (await sent.value).ok
    box = page.get_by_label("輸入您的問題")
    assert await page.evaluate("document.activeElement.id") == "question" and await box.input_value() == VAGUE
    assert "換個說法" in await page.locator("#status").inner_text()
    core = client.server.app[CORE]
    session = await page.evaluate("sessionStorage.getItem('digibot.session')")
    [row] = [r for r in core.feedback.needing_review(review_since()) if r["reason"] == "disliked"]
    assert row["intent"] == "clarify" and core.feedback.user_vote(row["id"], session) == "down"


@pytest.mark.parametrize("device_name, device", [("phone", PHONE), ("desktop", DESKTOP)])
async def test_a_refusal_shows_no_source(browser, base_url, device_name, device):
    page = await new_page(browser, device)
    await page.goto(base_url + "/")
    answer = await ask(page, REFUSED)
    assert "沒有提到" in await answer.locator("p.text").inner_text()
    assert await answer.locator(".sources, details.quote").count() == 0
    assert await answer.locator(".chips-label").inner_text() == "您可以試試："
    await page.screenshot(path=str(shot(f"{device_name}-refusal.png")))


async def test_sources_are_deduplicated_with_distinct_accessible_names(browser, base_url):
    page = await new_page(browser, DESKTOP)
    source = {"section": "伍、主軸1 一、(二) 1.", "title": "提升公共場域行動通訊服務品質", "agency": "國發會",
              "quote": "已提供全臺逾9,735個 iTaiwan 熱點"}
    reply = {"query": "q", "answered": True, "intent": "fact", "answer": "逾9,735個", "confidence": 0.9,
             "suggestions": [], "answer_id": "abc", "sources": [
                 source, dict(source), {**source, "quote": "總使用逾4.46億人次"},
                 {"section": "伍、主軸1 一、(二) 2.", "title": "機場", "agency": "交通部", "quote": "桃園機場"},
                 {"section": "參、", "title": "總體指標", "agency": "", "quote": "表"}]}

    async def fulfil(route):
        await route.fulfill(status=200, content_type="application/json", body=json.dumps(reply, ensure_ascii=False))

    await page.goto(base_url + "/")
    await page.route("**/api/ask", fulfil)
    answer = await ask(page, "任何問題")
    items = answer.locator(".sources li")
    assert await items.count() == 3  # the same section twice is one source, its two quotes together
    assert await items.first.locator("blockquote").count() == 2
    names = await answer.locator("summary").evaluate_all("nodes => nodes.map(n => n.textContent.trim())")
    assert len(names) == 3 and len(set(names)) == 3 and all(n.startswith("查看報告原文") for n in names)

    # A real answer with two sources: each summary names its own section too.
    await page.unroute("**/api/ask")
    real = await ask(page, "1Gbps涵蓋率是拿什麼當分母")
    names = await real.locator("summary").evaluate_all("nodes => nodes.map(n => n.textContent.trim())")
    assert len(names) == len(set(names)) >= 2


@pytest.mark.parametrize("device, keys_shown", [(PHONE, False), (DESKTOP, True)])
async def test_the_hint_fits_the_device(browser, base_url, device, keys_shown):
    page = await new_page(browser, device)
    await page.goto(base_url + "/")
    assert await page.locator(".hint-keys").is_visible() is keys_shown  # "Shift + Enter" needs a keyboard
    assert await page.locator(".hint-touch").is_visible() is not keys_shown


async def test_an_english_interface_by_the_browsers_language_and_switchable(browser, base_url):
    page = await new_page(browser, DESKTOP, locale="en-US")
    await page.goto(base_url + "/")
    assert await page.evaluate("document.documentElement.lang") == "en"
    assert await page.get_by_label("Your question").count() == 1
    assert await page.get_by_role("button", name="Send").count() == 1
    await page.locator("#examples .chip").first.wait_for()
    assert (await page.locator("#examples .chip").first.inner_text()).isascii()  # English example questions
    answer = await ask(page, "How many iTaiwan hotspots are there?")
    assert await answer.get_by_role("button", name="Helpful").count() == 1
    switch = page.locator("#lang-switch")
    assert await switch.inner_text() == "中文" and await switch.get_attribute("lang") == "zh-Hant"
    await switch.click()
    assert await page.evaluate("document.documentElement.lang") == "zh-Hant"
    assert await page.get_by_label("輸入您的問題").count() == 1
    assert await answer.get_by_role("button", name="有幫助").count() == 1  # what is on screen follows
    await page.reload()
    assert await page.evaluate("document.documentElement.lang") == "zh-Hant"  # the choice is kept
    assert await page.locator("#lang-switch").inner_text() == "English"


async def test_friendly_messages_and_a_resent_question_shown_once(browser, base_url):
    page = await new_page(browser, PHONE)
    await page.goto(base_url + "/")
    box = page.get_by_label("輸入您的問題")

    async def too_many(route):
        await route.fulfill(status=429, headers={"Retry-After": "17", "Content-Type": "application/json"},
                            body='{"error": "too_many_requests", "message": "slow down"}')

    await page.route("**/api/ask", too_many)
    await box.fill(FACT)
    await box.press("Enter")
    error = page.locator("#log article.msg.error").last
    await error.wait_for()
    assert "17 秒" in await error.inner_text()
    assert await box.input_value() == FACT  # the question is kept to send again

    await page.unroute("**/api/ask")
    await page.route("**/api/ask", lambda route: route.abort("internetdisconnected"))
    await box.press("Enter")
    await page.wait_for_function("() => document.querySelector('#log article.msg.error')"
                                 " && document.querySelector('#log article.msg.error').textContent.includes('網路')")
    assert await page.locator("#log article.msg.error").count() == 1  # the earlier attempt is not kept twice

    await page.unroute("**/api/ask")
    await box.press("Enter")
    await page.locator("#log article.msg.bot:not(.intro):not(.error)").first.wait_for()
    assert await page.locator("#log article.msg.user").count() == 1  # sent three times, shown once
    assert await page.locator("#log article.msg.error").count() == 0


# ------------------------------------------------------------------ the officials' page
@pytest.mark.parametrize("device_name, device", [("phone", PHONE), ("desktop", DESKTOP)])
async def test_budget_and_indicator_views_show_the_reports_figures_and_notes(browser, base_url, client, kb,
                                                                             device_name, device):
    page = await new_page(browser, device)
    await page.goto(base_url + "/stats")
    await page.wait_for_function("() => document.getElementById('tables').getAttribute('data-ready') === 'true'")
    budget = budget_table(kb)
    table = page.locator("#budget table")
    rows = await table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.children).map(c => c.textContent.trim()))")
    for a in budget["axes"]:
        row = next(r for r in rows if r[0].startswith(f"{a['axis']} "))
        assert row[1:] == [a["values"].get(str(y), a["note"] or "N/A").removesuffix("億元") for y in budget["years"]]
    stated = next(r for r in rows if r[0] == "合計（報告表列）")
    assert stated[1:] == [budget["totals"][str(y)].removesuffix("億元") for y in budget["years"]]
    computed = next(r for r in rows if r[0] == "各主軸加總＊")
    assert any("254.4" in c and "⚠" in c for c in computed)
    notes = await page.locator("#budget .notes li").all_inner_texts()
    assert notes == budget["table_notes"] and any("254.4" in n for n in notes)  # the notes /stats shows
    sources = await page.locator("#budget .source-note").all_inner_texts()
    assert any(budget["source"]["section"] in t and budget["source"]["title"] in t for t in sources)

    indicators = indicator_table(kb)
    irows = await page.locator("#indicators tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.children).map(c => c.textContent.trim()))")
    for ind, row in zip(indicators["indicators"], irows):
        assert row[0] == ind["name"] and row[1] == ind["unit"]
        for y, cell in zip(indicators["years"], row[2:]):
            value = ind["values"].get(str(y))
            assert cell == ("—" if value is None else value.removesuffix(ind["unit"]) + ("＊" if y in ind["estimates"] else ""))

    # Every table and chart is a section with its own link, listed at the top.
    links = await page.locator("#toc a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    expected = ["#budget", "#budget-chart", "#indicators"] + [f"#indicator-{i['key']}" for i in indicators["indicators"]]
    assert links == expected
    for href in expected:
        assert await page.locator(f"{href} a.section-link[href='{href}']").count() == 1
    chart = page.locator("#budget-chart img")
    await chart.scroll_into_view_if_needed()
    await page.wait_for_function("() => { const i = document.querySelector('#budget-chart img'); "
                                 "return i.complete && i.naturalWidth > 0; }")
    assert "與上表數字相同" in await chart.get_attribute("alt")
    assert await page.evaluate("document.documentElement.scrollWidth") <= device["viewport"]["width"]
    await page.goto(base_url + "/stats#budget")
    await page.wait_for_function("() => document.getElementById('tables').getAttribute('data-ready') === 'true'")
    await page.evaluate(SETTLED)
    await page.screenshot(path=str(shot(f"{device_name}-budget.png")))
    await page.locator("#budget-chart").scroll_into_view_if_needed()
    await page.wait_for_function("() => document.querySelector('#budget-chart img').naturalWidth > 0")
    await page.screenshot(path=str(shot(f"{device_name}-budget-chart.png")))
    assert page.errors == []
    response = await client.get("/api/stats/chart/budget.png")
    assert response.status == 200 and response.content_type == "image/png"
