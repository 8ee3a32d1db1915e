"""Citizens talking to the real Application over HTTP, against the Bot API stand-in."""

from __future__ import annotations

import html
import sqlite3

import pytest

from bot.session import Session
from tests.botapi_stub import BotAPIStub, running_bot

USER = 5550001




@pytest.fixture
async def bot(api, service, data_dir):
    async with running_bot(api, service, data_dir, admin_ids={1}, official_ids={2}) as application:
        yield application


async def ask(api: BotAPIStub, text: str, user_id: int = USER, **kwargs):
    """Send a message and return the bot's first reply to it."""
    mark = api.mark()
    update = api.push_text(text, user_id=user_id, **kwargs)
    chat_id = update["message"]["chat"]["id"]
    [reply] = await api.wait_for("sendMessage", since=mark, chat_id=chat_id)
    return reply


def no_rejected_calls(api: BotAPIStub) -> None:
    rejected = [c for c in api.failed() if c.method != "getUpdates"]
    assert not rejected, f"Telegram would have rejected: {[(c, c.description) for c in rejected]}"


# ------------------------------------------------------------------------------ answers
@pytest.mark.parametrize("question", ["iTaiwan 熱點有幾個?", "iTaiwan 热点有几个?"])
async def test_fact_question_is_answered_with_figure_source_and_buttons(api, bot, question):
    reply = await ask(api, question)
    assert "9,735" in reply.text
    assert "主軸1" in reply.text and "來源" in reply.text  # compact source line: outline path · agency
    assert reply["parse_mode"] == "HTML"
    labels = [label for label, _ in reply.buttons]
    assert "📄 原文" in labels and len(labels) >= 2  # suggestions plus the quote
    assert all(len(data.encode()) <= 64 for _, data in reply.buttons)
    actions = [c for c in api.calls if c.method == "sendChatAction" and c.ok]
    assert actions and actions[0]["action"] == "typing" and api.calls.index(actions[0]) < api.calls.index(reply)
    no_rejected_calls(api)


async def test_follow_up_uses_this_chats_context(api, bot):
    first = await ask(api, "數位經濟規模2018年是多少")
    assert "4.5兆元" in first.text
    follow_up = await ask(api, "那2019年呢?")
    assert "4.7兆元" in follow_up.text
    stranger = await ask(api, "那2019年呢?", user_id=USER + 1)  # another chat has no such context
    assert "4.7兆元" not in stranger.text


async def test_suggestion_button_answers_that_question(api, bot, service):
    answer = await ask(api, "iTaiwan 熱點有幾個?")
    label, data = answer.buttons[0]
    assert data.startswith("q:")
    expected = service.current.ask(label, Session())
    mark = api.mark()
    api.push_callback(answer, data)
    [reply] = await api.wait_for("sendMessage", since=mark)
    await api.wait_for("answerCallbackQuery", since=mark)
    assert expected.answer.strip() in reply.text
    no_rejected_calls(api)


async def test_source_button_shows_the_report_sentence(api, bot, service):
    answer = await ask(api, "iTaiwan 熱點有幾個?")
    quote = service.current.ask("iTaiwan 熱點有幾個?", Session()).sources[0].quote
    mark = api.mark()
    api.press(answer, "原文")
    [reply] = await api.wait_for("sendMessage", since=mark)
    assert quote.strip() in reply.text and "9,735" in reply.text
    assert any(e["type"] == "blockquote" for e in reply.result.get("entities", []))
    assert reply.result["reply_to_message"]["message_id"] == answer.result["message_id"]


async def test_low_confidence_and_out_of_scope_replies_offer_questions(api, bot, service):
    reply = await ask(api, "明天台北天氣如何？")
    expected = service.current.ask("明天台北天氣如何？", Session())
    assert expected.intent == "out_of_scope"
    assert expected.answer.strip() in reply.text
    assert "來源" not in reply.text  # nothing from the report was stated
    assert [label for label, _ in reply.buttons] == [s[:60] for s in expected.suggestions] + ["👍 有幫助", "👎 不正確"]


# ----------------------------------------------------------------------------- commands
async def test_start_help_about(api, bot, service):
    start = await ask(api, "/start")
    assert "DIGI+ 小幫手" in start.text
    assert [label for label, _ in start.buttons] == service.current.example_questions(3)
    mark = api.mark()
    api.press(start, service.current.example_questions(3)[0][:10])
    [answer] = await api.wait_for("sendMessage", since=mark)
    assert answer.text
    help_text = (await ask(api, "/help")).text
    assert "/stats" in help_text and "/chart" in help_text and "/reload" not in help_text
    assert "/reload" in (await ask(api, "/help", user_id=1)).text  # admins see their commands
    about = (await ask(api, "/about")).text
    assert "2017–2020" in about and "原文" in about
    unknown = (await ask(api, "/nosuchcommand")).text
    assert "/help" in unknown
    no_rejected_calls(api)


async def test_command_menu_is_registered_in_chinese(api, bot):
    menu = api.commands['{"type": "default"}|']
    assert [c["command"] for c in menu] == ["start", "help", "about", "stats", "chart", "export"]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in c["description"]) for c in menu)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "location", "contact", "document", "video", "dice"])
async def test_non_text_messages_get_a_polite_text_reply(api, bot, kind):
    mark = api.mark()
    api.push_media(kind, user_id=USER)
    [reply] = await api.wait_for("sendMessage", since=mark)
    assert "文字" in reply.text and not reply.buttons
    no_rejected_calls(api)


@pytest.mark.parametrize("text", [
    "iTaiwan 熱點有幾個?" * 450 + "結尾",  # ~9,000 characters
    "<b>iTaiwan</b> & 熱點 <script>alert(1)</script> &amp; </i>",
    "*粗體* _斜體_ [連結](http://example.org) `code`",
    "😀😀😀",
    "   ",
    "\u200b\u0000",
])
async def test_bad_input_never_crashes_and_replies_are_valid_html(api, bot, caplog, text):
    reply = await ask(api, text)
    assert reply.text.strip()
    no_rejected_calls(api)
    assert "error while handling" not in caplog.text


async def test_html_in_a_question_is_escaped_wherever_it_is_echoed(api, bot):
    reply = await ask(api, "<b>iTaiwan</b> 熱點有幾個?")
    assert "9,735" in reply.text
    for call in api.sent():
        assert "<script" not in call["text"].lower()


async def test_edited_message_is_answered_again(api, bot):
    mark = api.mark()
    original = api.push_text("iTaiwan 熱點有幾個?", user_id=USER)["message"]
    [first] = await api.wait_for("sendMessage", since=mark)
    assert "9,735" in first.text
    mark = api.mark()
    api.push_edited(original, "2019年數位經濟規模是多少")
    [reply] = await api.wait_for("sendMessage", since=mark)
    assert "4.7兆元" in reply.text
    assert reply.result["reply_to_message"]["message_id"] == original["message_id"]


# ------------------------------------------------------------------------------ groups
async def test_in_groups_only_commands_mentions_and_replies_are_answered(api, bot):
    group = -100777
    mark = api.mark()
    api.push_text("iTaiwan 熱點有幾個?", chat_id=group, chat_type="supergroup", user_id=USER)
    api.push_media("sticker", chat_id=group, chat_type="supergroup", user_id=USER)
    api.push_text("/stats@some_other_bot", chat_id=group, chat_type="supergroup", user_id=USER)
    api.push_text("/nosuchcommand", chat_id=group, chat_type="supergroup", user_id=USER)
    await api.settle()
    assert not api.sent(chat_id=group)
    mentioned = await ask(api, "@digibot_test_bot iTaiwan 熱點有幾個?", chat_id=group, chat_type="supergroup")
    assert "9,735" in mentioned.text
    assert mentioned.result["reply_to_message"]["text"].startswith("@digibot_test_bot")
    by_reply = await ask(api, "2019年數位經濟規模是多少", chat_id=group, chat_type="supergroup", reply_to_bot=True)
    assert "4.7兆元" in by_reply.text
    command = await ask(api, "/help@digibot_test_bot", chat_id=group, chat_type="supergroup")
    assert "@我" in command.text
    assert len(api.sent(chat_id=group)) == 3 and mark < api.mark()


# ---------------------------------------------------------------------------- privacy
async def test_query_log_stores_no_raw_ids_or_names(api, bot, data_dir):
    user_id = 987654321
    await ask(api, "iTaiwan 熱點有幾個?", user_id=user_id)
    await ask(api, "明天天氣如何", user_id=user_id)
    con = sqlite3.connect(data_dir / "querylog.sqlite")
    rows = con.execute("select * from queries").fetchall()
    columns = [d[0] for d in con.execute("select * from queries").description]
    con.close()
    assert len(rows) == 2 and "user_hash" in columns
    dump = repr(rows)
    assert str(user_id) not in dump and "測試使用者" not in dump
    by_question = {r[columns.index("question")]: r for r in rows}
    assert by_question["iTaiwan 熱點有幾個?"][columns.index("answered")] == 1
    assert by_question["明天天氣如何"][columns.index("chat_type")] == "private"


async def test_answers_are_escaped(api, bot, service):
    """Whatever the core says goes through html.escape (the stand-in would reject raw < or &)."""
    reply = await ask(api, "AT&T 和 <MyData> 是什麼?")
    expected = service.current.ask("AT&T 和 <MyData> 是什麼?", Session())
    assert html.unescape(html.escape(expected.answer.strip())) in reply.text


async def test_did_you_mean_buttons_for_a_vague_question(api, bot, service):
    expected = service.current.ask("人才", Session())
    assert expected.intent == "clarify", "pick another vague question if the core now answers this one"
    reply = await ask(api, "人才")
    assert expected.answer.strip() in reply.text and "原文" not in reply.text
    assert [label for label, _ in reply.buttons] == [s[:60] for s in expected.suggestions] + ["🔄 都不是，我換個說法"]
    mark = api.mark()
    api.push_callback(reply, reply.buttons[0][1])
    [answer] = await api.wait_for("sendMessage", since=mark)
    assert service.current.ask(expected.suggestions[0], Session()).answer.strip() in answer.text


async def test_greets_a_group_it_is_added_to(api, bot):
    group = -100888
    api.chat(group, "supergroup")
    me = {"id": api.bot_id, "is_bot": True, "first_name": api.first_name, "username": api.username}
    mark = api.mark()
    api.push_update({"my_chat_member": {
        "chat": api.chat(group), "from": api.user(USER), "date": 0,
        "old_chat_member": {"status": "left", "user": me},
        "new_chat_member": {"status": "member", "user": me}}})
    [hello] = await api.wait_for("sendMessage", since=mark, chat_id=group)
    assert "@digibot_test_bot" in hello.text


async def test_none_of_these_under_a_did_you_mean_asks_for_other_words_and_is_recorded(api, bot, service):
    reply = await ask(api, "人才")
    mark = api.mark()
    api.press(reply, "都不是")
    [answered] = await api.wait_for("answerCallbackQuery", since=mark)
    [prompt] = await api.wait_for("sendMessage", since=mark)
    assert "換個說法" in prompt.text
    core = bot.bot_data["core"]
    answer_id = next(data for _, data in reply.buttons if data.startswith("fb:n:"))[5:]
    assert core.feedback.user_vote(answer_id, USER) == "down"
    assert core.feedback.answer(answer_id)["intent"] == "clarify"


async def test_in_a_group_everyone_votes_once_and_the_buttons_count(api, bot):
    group = -100777
    api.chat(group, "supergroup")
    mark = api.mark()
    api.push_text("@digibot_test_bot iTaiwan 熱點有幾個?", chat_id=group, chat_type="supergroup", user_id=USER)
    [reply] = await api.wait_for("sendMessage", since=mark, chat_id=group)
    for user, label in ((USER, "👍"), (USER + 1, "👍"), (USER + 2, "👎"), (USER + 1, "👎")):
        mark = api.mark()
        api.press(reply, label, user_id=user)
        await api.wait_for("editMessageReplyMarkup", since=mark, chat_id=group)
    message = api.message(group, reply.result["message_id"])
    labels = [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row
              if b.get("callback_data", "").startswith(("fb:u:", "fb:d:"))]
    assert labels == ["👍 有幫助 1", "👎 不正確 2"]  # the second user changed their vote
