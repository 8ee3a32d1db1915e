"""Inline mode: "@bot 偏鄉寬頻" in any chat, answered through answerInlineQuery, which the stand-in
validates as Telegram does (at most 50 results, unique ids of 1–64 bytes, titles, HTML that parses)."""

from __future__ import annotations

import re

import pytest

from bot.inline import INLINE_CACHE_SECONDS, INLINE_RESULTS, InlineAnswers
from tests.botapi_stub import BotAPIStub, parse_html, running_bot

USER = 5550001


@pytest.fixture
async def bot(api, service, data_dir):
    async with running_bot(api, service, data_dir) as application:
        yield application


async def inline(api: BotAPIStub, query: str) -> dict:
    mark = api.mark()
    update = api.push_inline_query(query, user_id=USER)
    await api.wait_for("answerInlineQuery", since=mark, timeout=20)
    return api.inline_answers[update["inline_query"]["id"]]


def check_results(answer: dict) -> list[dict]:
    results = answer["results"]
    assert 1 <= len(results) <= INLINE_RESULTS
    ids = [r["id"] for r in results]
    assert len(set(ids)) == len(ids) and all(1 <= len(i.encode()) <= 64 for i in ids)
    for r in results:
        assert r["type"] == "article" and r["title"].strip() and r["description"].strip()
        parse_html(r["input_message_content"]["message_text"])  # what the stand-in already accepted
    return results


async def test_an_inline_query_offers_answers_with_their_figure_and_source(api, bot, service):
    query = "偏鄉寬頻涵蓋率歷年多少"
    answer = await inline(api, query)
    results = check_results(answer)
    assert answer["cache_time"] == INLINE_CACHE_SECONDS
    first = results[0]
    expected = service.current.ask(query)
    assert expected.answered and first["title"] == query
    text, _ = parse_html(first["input_message_content"]["message_text"])
    assert expected.answer.strip() in text and "來源" in text  # the figure, and where it comes from
    figures = [f for f in re.findall(r"\d[\d,.]*%?", expected.answer) if not re.fullmatch(r"20\d\d", f)]
    assert figures and figures[0] in first["description"]  # the figure is visible before sending
    assert len({r["description"] for r in results}) == len(results)  # different answers, not one five times


async def test_a_vague_inline_query_offers_the_answers_it_would_ask_about(api, bot, service):
    """"寬頻" names a topic, not a figure: the options of its "did you mean", each answered."""
    expected = service.current.ask("寬頻")
    assert expected.intent == "clarify" and expected.suggestions
    results = check_results(await inline(api, "寬頻"))
    titles = [r["title"] for r in results]
    assert titles[0] == expected.suggestions[0] and set(titles) <= set(expected.suggestions)
    for r in results:
        answered = service.current.ask(r["title"])
        text, _ = parse_html(r["input_message_content"]["message_text"])
        assert answered.answered and answered.answer.strip() in text and "來源" in text


async def test_a_query_without_an_answer_offers_the_examples(api, bot, service):
    for query in ("", "明天台北天氣如何"):
        results = check_results(await inline(api, query))
        titles = [r["title"] for r in results]
        examples = service.current.example_questions(INLINE_RESULTS)
        assert titles and all(t in examples for t in titles)


async def test_markup_in_a_query_is_escaped(api, bot):
    results = check_results(await inline(api, "<b>iTaiwan</b> & 熱點"))
    text, _ = parse_html(results[0]["input_message_content"]["message_text"])
    assert results[0]["title"] == "<b>iTaiwan</b> & 熱點" and text.startswith("<b>iTaiwan</b> & 熱點\n")  # as typed


async def test_the_stand_in_rejects_what_telegram_rejects(api):
    import httpx

    update = api.push_inline_query("x")
    query_id = update["inline_query"]["id"]
    article = {"type": "article", "title": "t", "input_message_content": {"message_text": "ok"}}
    async with httpx.AsyncClient() as http:
        async def send(results) -> str:
            response = await http.post(f"{api.base_url}{api.token}/answerInlineQuery",
                                       json={"inline_query_id": query_id, "results": results})
            return response.json().get("description", "ok")

        assert "RESULTS_TOO_MUCH" in await send([{**article, "id": str(i)} for i in range(51)])
        assert "RESULT_ID_INVALID" in await send([{**article, "id": "x" * 65}])
        assert "RESULT_ID_DUPLICATE" in await send([{**article, "id": "a"}, {**article, "id": "a"}])
        assert "can't parse entities" in await send([{**article, "id": "a", "input_message_content": {
            "message_text": "<b>unclosed", "parse_mode": "HTML"}}])
        assert await send([{**article, "id": "a"}]) == "ok"
        assert "query is too old" in await send([{**article, "id": "a"}])  # answered once only


def test_answers_are_cached_briefly(core):
    now = [0.0]
    answers = InlineAnswers(core, clock=lambda: now[0])
    first, about = answers.answers("iTaiwan 熱點")
    assert about and first and answers.computed == 1
    assert answers.answers("iTaiwan 熱點")[0] is first and answers.computed == 1
    now[0] += INLINE_CACHE_SECONDS + 1
    assert answers.answers("iTaiwan 熱點")[0] is not first and answers.computed == 2
