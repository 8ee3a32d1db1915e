"""Privileged output that quotes citizens' questions goes only to private chats.

A citizen asks a question carrying a name, a phone number and an ID number (the query log masks the
numbers, but not the name). An admin then runs /unanswered and an official /usage in a group: the group
gets a short answer pointing to a private chat, and nothing the citizen typed. The same commands in a
private chat list the question as usual.
"""

from __future__ import annotations

import pytest

from tests.botapi_stub import BotAPIStub, running_bot

CITIZEN, OFFICIAL, ADMIN = 7710001, 7710002, 7710003
GROUP = -1007710000
NAME, PHONE, ID_NUMBER = "陳美玲", "0912-345-678", "A123456789"
QUESTION = f"我是{NAME}，電話{PHONE}，身分證{ID_NUMBER}，請問高雄明天會下雨嗎"


@pytest.fixture
async def bot(api, service, data_dir):
    async with running_bot(api, service, data_dir, admin_ids={ADMIN}, official_ids={OFFICIAL}) as application:
        yield application


async def say(api: BotAPIStub, text: str, user_id: int, chat_id: int | None = None) -> str:
    mark = api.mark()
    if chat_id is None:
        api.push_text(text, user_id=user_id)
    else:
        api.push_text(text, user_id=user_id, chat_id=chat_id, chat_type="group")
    [reply] = await api.wait_for("sendMessage", since=mark, chat_id=chat_id or user_id)
    return reply.text


@pytest.mark.parametrize("command, user", [("/unanswered", ADMIN), ("/usage", OFFICIAL), ("/usage 90", ADMIN)])
async def test_commands_quoting_citizens_answer_in_a_group_only_with_a_pointer_to_a_private_chat(api, bot, command,
                                                                                                 user):
    await say(api, QUESTION, CITIZEN)  # not answered: the report has no weather
    in_group = await say(api, command, user, GROUP)
    assert "私訊" in in_group and f"@{api.username}" in in_group
    for private in (NAME, PHONE, ID_NUMBER, "高雄", "下雨", "[電話號碼]"):
        assert private not in in_group, private
    await api.settle()
    group_messages = [c.text for c in api.sent(chat_id=GROUP)]
    assert len(group_messages) == 1  # the short answer, and nothing else
    mark = api.mark()
    await say(api, command, user)
    # /unanswered sends a heading, then one message per group with its buttons: wait for the group's message
    # (a quiet spell is no sign on a busy machine), /usage's one message is already in.
    if command == "/unanswered":
        await api.wait_for(lambda c: c.method == "sendMessage" and "高雄" in c.text, since=mark, chat_id=user,
                           timeout=60)
    in_private = "\n".join(c.text for c in api.calls[mark:] if c.method == "sendMessage" and c.ok
                            and c.params.get("chat_id") == user)
    assert "高雄明天會下雨嗎" in in_private and NAME in in_private  # the list itself, where it belongs
    assert PHONE not in in_private and ID_NUMBER not in in_private  # masked when it was logged


async def test_a_citizen_in_a_group_is_refused_as_before(api, bot):
    await say(api, QUESTION, CITIZEN)
    refusal = await say(api, "/unanswered", CITIZEN, GROUP)
    assert "管理員" in refusal and "私訊" not in refusal and NAME not in refusal
