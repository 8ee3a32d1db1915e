"""/reload over Telegram: swapped in atomically while questions are answered; refused and logged
for non-admins; a failed or worse build keeps the old knowledge base serving."""

from __future__ import annotations

import logging
import re


from bot.service import KnowledgeService
from tests.botapi_stub import BotAPIStub, running_bot

ADMIN, CITIZEN = 7770001, 7770002
RELOAD_TIMEOUT = 300  # a ceiling for a stuck reload (build and two scorings), not a speed requirement



async def reload_by(api: BotAPIStub, user_id: int, timeout: float = RELOAD_TIMEOUT) -> str:
    """Send /reload and return the final text the user sees (the status message, edited)."""
    mark = api.mark()
    api.push_text("/reload", user_id=user_id)
    [first] = await api.wait_for("sendMessage", since=mark, chat_id=user_id)
    if "抱歉" in first.text:
        return first.text
    [edit] = await api.wait_for("editMessageText", since=mark, timeout=timeout)
    assert edit["message_id"] == first.result["message_id"]
    return edit.text


async def ask(api: BotAPIStub, text: str, user_id: int = CITIZEN) -> str:
    mark = api.mark()
    api.push_text(text, user_id=user_id)
    [reply] = await api.wait_for("sendMessage", since=mark, chat_id=user_id, timeout=15)
    return reply.text


async def test_admin_reload_swaps_in_a_new_kb_while_questions_are_answered(api, data_dir):
    service = KnowledgeService(data_dir)
    before = service.current
    async with running_bot(api, service, data_dir, admin_ids={ADMIN}):
        mark = api.mark()
        api.push_text("/reload", user_id=ADMIN)
        await api.wait_for("sendMessage", since=mark, chat_id=ADMIN)
        answer = await ask(api, "iTaiwan 熱點有幾個?")  # asked while the reload runs
        assert "9,735" in answer
        [edit] = await api.wait_for("editMessageText", since=mark, timeout=RELOAD_TIMEOUT)
        question_reply = api.sent(chat_id=CITIZEN)[-1]
        assert api.calls.index(question_reply) < api.calls.index(edit), "the question waited for the reload"
        assert edit.text.startswith("✅")
        assert re.search(r"\d+\.\d 秒", edit.text) and re.search(r"\d+ 句原文", edit.text)
        assert "答對率" in edit.text
        assert service.current is not before
        assert "9,735" in await ask(api, "iTaiwan 熱點有幾個?")


async def test_reload_is_refused_politely_for_citizens_and_logged_by_hash(api, data_dir, caplog):
    caplog.set_level(logging.WARNING)
    service = KnowledgeService(data_dir)
    before = service.current
    async with running_bot(api, service, data_dir, admin_ids={ADMIN}, official_ids={CITIZEN + 1}):
        for user in (CITIZEN, CITIZEN + 1):  # officials are not admins either
            text = await reload_by(api, user)
            assert "抱歉" in text and "管理員" in text
        await api.settle()
    assert service.current is before
    assert not api.sent("editMessageText")
    refusals = [r.getMessage() for r in caplog.records if "refused /reload" in r.getMessage()]
    assert len(refusals) == 2
    assert all(str(CITIZEN) not in m and str(CITIZEN + 1) not in m for m in refusals)
    assert re.search(r"user [0-9a-f]{24}", refusals[0])


async def test_unanswered_is_for_admins_only(api, data_dir, caplog):
    caplog.set_level(logging.WARNING)
    service = KnowledgeService(data_dir)
    async with running_bot(api, service, data_dir, admin_ids={ADMIN}, official_ids={CITIZEN}):
        assert "我只根據" in await ask(api, "台積電今年股價多少?")  # refused: the report has no share prices
        refused = await ask(api, "/unanswered", user_id=CITIZEN)  # an official, not an admin
        assert "抱歉" in refused and "管理員" in refused and "股價" not in refused
        mark = api.mark()
        api.push_text("/unanswered", user_id=ADMIN)
        header, group = await api.wait_for("sendMessage", count=2, since=mark, chat_id=ADMIN)
        listed = header.text + group.text  # a heading, then one message (with buttons) per group
        assert "股價" in group.text and "抱歉" not in listed and "1 組" in header.text
    refusals = [r.getMessage() for r in caplog.records if "refused /unanswered" in r.getMessage()]
    assert len(refusals) == 1 and str(CITIZEN) not in refusals[0]


async def test_failed_build_keeps_the_old_kb_serving(api, data_dir, knowledge_copy):
    service = KnowledgeService(data_dir, knowledge_dir=knowledge_copy)
    before = service.current
    budget = knowledge_copy / "curated" / "budget.yaml"
    budget.write_text(budget.read_text(encoding="utf-8").replace("5.2億元", "5.3億元", 1), encoding="utf-8")
    async with running_bot(api, service, data_dir, admin_ids={ADMIN}):
        text = await reload_by(api, ADMIN)
        assert text.startswith("❌") and "目前的知識庫繼續服務" in text and "原因" in text
        assert "build failed" in text or "5.3" in text
        assert service.current is before
        assert "9,735" in await ask(api, "iTaiwan 熱點有幾個?")
        assert "5.2億元" in await ask(api, "主軸1 2017年預算多少")


async def test_worse_kb_is_not_swapped_in(api, data_dir, knowledge_copy):
    service = KnowledgeService(data_dir, knowledge_dir=knowledge_copy)
    before = service.current
    faq = knowledge_copy / "curated" / "faq.yaml"
    entries = faq.read_text(encoding="utf-8").split("\n- id: ")
    faq.write_text("\n- id: ".join(entries[:3]) + "\n", encoding="utf-8")  # drop almost every FAQ entry
    async with running_bot(api, service, data_dir, admin_ids={ADMIN}):
        text = await reload_by(api, ADMIN)
        assert text.startswith("❌") and "worse" in text
        old, new = re.search(r"答對率：([\d.]+)% → ([\d.]+)%", text).groups()
        assert float(new) < float(old)
        assert service.current is before
        assert "9,735" in await ask(api, "iTaiwan 熱點有幾個?")
