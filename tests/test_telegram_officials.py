"""Officials' statistics over Telegram: /stats tables, /chart PNGs, /export CSVs, /usage, /unanswered."""

from __future__ import annotations

import csv
import io
import logging

import pytest

from bot.tables import budget_table, indicator_table
from tests.botapi_stub import BotAPIStub, running_bot

CITIZEN, OFFICIAL, ADMIN = 6660001, 6660002, 6660003




@pytest.fixture
async def bot(api, service, data_dir):
    async with running_bot(api, service, data_dir, admin_ids={ADMIN}, official_ids={OFFICIAL}) as application:
        yield application


async def command(api: BotAPIStub, text: str, user_id: int = CITIZEN, method: str = "sendMessage", count: int = 1):
    mark = api.mark()
    api.push_text(text, user_id=user_id)
    found = await api.wait_for(method, count, since=mark, chat_id=user_id)
    return found[0] if count == 1 else found


def pre_blocks(call) -> list[str]:
    text = call.result["text"]
    return [text[e["offset"]: e["offset"] + e["length"]] for e in call.result.get("entities", []) if e["type"] == "pre"]


def assert_all_accepted(api: BotAPIStub) -> None:
    assert not [c for c in api.failed() if c.method != "getUpdates"]


# ------------------------------------------------------------------------------ /stats
async def test_stats_menu_buttons_show_each_table_in_place(api, bot, service):
    menu = await command(api, "/stats")
    assert [label for label, _ in menu.buttons] == ["總體指標", "預算（依年度）", "預算（依主軸）"]
    kb = service.kb
    for label, must in [("總體指標", [indicator_table(kb)["indicators"][0]["name"], "預估值"]),
                        ("預算（依年度）", [budget_table(kb)["totals"]["2020"].replace("億元", ""), "254.4", "⚠"]),
                        ("預算（依主軸）", ["41.8", "N/A", "億元"])]:
        mark = api.mark()
        api.press(menu, label)
        [edit] = await api.wait_for("editMessageText", since=mark)
        assert edit["message_id"] == menu.result["message_id"]
        assert pre_blocks(edit), "tables are monospace"
        for text in must:
            assert text in edit.text, (label, text)
        assert [label for label, _ in edit.buttons] == [label for label, _ in menu.buttons]  # menu stays
    mark = api.mark()
    api.press(menu, "預算（依主軸）")  # the same view again: Telegram says "not modified"; no error shown
    await api.wait_for("answerCallbackQuery", since=mark)
    await api.settle()
    assert not api.sent(chat_id=CITIZEN)[1:]


async def test_stats_budget_comparison_has_units_stated_totals_and_the_discrepancy(api, bot, service):
    reply = await command(api, "/stats 預算 2017 2020")
    [grid] = pre_blocks(reply)
    table = budget_table(service.kb)
    header = grid.splitlines()[0]
    assert "2017" in header and "2020" in header and "2018" not in header and "增減" in header
    for axis in table["axes"][:6]:
        row = next(line for line in grid.splitlines() if line.startswith(str(axis["axis"])))
        assert axis["values"]["2017"].replace("億元", "") in row and axis["values"]["2020"].replace("億元", "") in row
    assert "合計" in grid and "244" in grid and "254.4" in grid
    assert "億元" in reply.text and "計算值" in reply.text
    assert "2020年" in reply.text and "相差" in reply.text
    assert "肆、投入預算表" in reply.text


@pytest.mark.parametrize("args, must", [
    ("預算 2019", ["2019", "57.4", "251"]),
    ("预算 主轴1", ["主軸1", "5.2", "41.8", "通傳會"]),
    ("預算 數位經濟", ["主軸2", "57.8"]),
    ("指標 數位經濟規模", ["4.9", "預估值", "兆元", "定義"]),
    ("指標 偏鄉", ["98.8", "Gbps等級服務到偏鄉涵蓋率"]),
    ("指標 2020", ["4.9*", "11", "98.8", "預估值"]),
    ("2018", ["57.3", "54.2"]),
    # Read like chat: 民國 years, 第N主軸, a year's per-axis breakdown, sums and averages over years.
    ("預算 民國109年", ["2020", "41.8", "57.8", "244", "254.4"]),
    ("預算 第三主軸", ["主軸3", "12.2", "31.2", "30.0", "29.0"]),
    ("2019年各主軸預算", ["2019", "41.8", "45.8", "57.4", "251"]),
    ("預算 主軸1 2017-2020 加總", ["5.2億元 + 29.8億元 + 41.8億元 + 41.8億元", "118.6", "計算值"]),
    ("預算 四年加總", ["805", "816.1", "計算值", "不一致"]),
])
async def test_stats_with_arguments(api, bot, args, must):
    reply = await command(api, f"/stats {args}")
    assert pre_blocks(reply)
    for text in must:
        assert text in reply.text, text
    assert_all_accepted(api)


@pytest.mark.parametrize("args, must", [("預算 2015", "2017–2020"), ("指標 股價", "看不懂"), ("隨便", "看不懂"),
                                        ("預算 去年", "去年"), ("預算 主軸9", "看不懂")])
async def test_stats_explains_what_it_cannot_show(api, bot, args, must):
    reply = await command(api, f"/stats {args}")
    assert must in reply.text and "用法" in reply.text
    assert reply.buttons  # the menu, to carry on


# ------------------------------------------------------------------------------ /chart
async def test_chart_budget_is_a_png(api, bot):
    photo = await command(api, "/chart 預算", method="sendPhoto")
    upload = photo.files["photo"]
    assert upload.data.startswith(b"\x89PNG\r\n\x1a\n") and len(upload.data) > 10_000
    assert upload.filename.endswith(".png")
    assert "預算" in photo.result["caption"]
    assert photo.result["photo"][-1]["width"] >= 800
    assert any(c.method == "sendChatAction" and c["action"] == "upload_photo" for c in api.calls)


async def test_chart_indicator_by_name_and_from_the_menu(api, bot, service):
    photo = await command(api, "/chart 指標 數位經濟規模", method="sendPhoto")
    assert "數位經濟規模" in photo.result["caption"]
    menu = await command(api, "/chart 指標")
    names = [label for label, _ in menu.buttons]
    assert [i.name for i in service.kb.indicators] == [n for n in names if n in {i.name for i in service.kb.indicators}]
    mark = api.mark()
    api.press(menu, service.kb.indicators[-1].name)
    [photo] = await api.wait_for("sendPhoto", since=mark)
    assert service.kb.indicators[-1].name in photo.result["caption"]
    assert_all_accepted(api)


# ----------------------------------------------------------------------------- /export
@pytest.mark.parametrize("args, header, must", [
    ("預算", "主軸", ["數位創新基礎環境,億元,5.2,29.8,41.8,41.8", "合計（報告表列）,億元,68,242,251,244",
              "各主軸加總（計算值）,億元,68.1,242.6,251,254.4"]),
    ("指標", "指標", ["數位經濟規模", "兆元,3.8,4.5,4.7,4.9,2020", "%,33.7,74.4,87.2,98.8"]),
])
async def test_export_sends_the_table_as_csv(api, bot, args, header, must):
    document = await command(api, f"/export {args}", method="sendDocument")
    upload = document.files["document"]
    assert upload.filename.endswith(".csv")
    text = upload.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == header and len(rows) >= 7
    assert len({len(r) for r in rows}) == 1  # rectangular
    for value in must:
        assert value in text
    assert document.result["document"]["file_name"] == upload.filename


async def test_export_without_arguments_offers_both(api, bot):
    menu = await command(api, "/export")
    mark = api.mark()
    api.press(menu, "預算")
    [document] = await api.wait_for("sendDocument", since=mark)
    assert "budget" in document.files["document"].filename


# ------------------------------------------------------------------- /usage /unanswered
async def test_usage_is_refused_for_citizens_and_logged_without_the_raw_id(api, bot, caplog):
    caplog.set_level(logging.WARNING)
    reply = await command(api, "/usage")
    assert "抱歉" in reply.text and "提問" not in reply.text
    refusal = [r.getMessage() for r in caplog.records if "refused /usage" in r.getMessage()]
    assert refusal and str(CITIZEN) not in refusal[0]
    assert "unanswered" not in reply.text
    denied = await command(api, "/unanswered", user_id=OFFICIAL)  # officials are not admins
    assert "管理員" in denied.text


async def test_usage_for_officials_counts_questions(api, bot):
    for question in ["iTaiwan 熱點有幾個?", "iTaiwan 熱點有幾個?", "<b>天氣</b>如何"]:
        await command(api, question, user_id=CITIZEN)
    report = await command(api, "/usage", user_id=OFFICIAL)
    assert "提問 3 則" in report.text and "使用者 1 人" in report.text and "已回答 67%" in report.text
    top = [line for line in report.text.splitlines() if line.startswith("1. ")][0]
    assert "iTaiwan 熱點有幾個?" in top and top.endswith("×2")
    assert "<b>天氣</b>如何" in report.text  # shown as typed, as text (escaped), not as bold
    assert pre_blocks(report)
    admin_report = await command(api, "/usage 30", user_id=ADMIN)
    assert "最近 30 天" in admin_report.text
    header, group = await command(api, "/unanswered 5", user_id=ADMIN, count=2)
    assert "1 組" in header.text
    assert "<b>天氣</b>如何" in group.text and "×1" in group.text  # escaped, shown as typed
    assert "iTaiwan 熱點有幾個?" not in group.text
    assert_all_accepted(api)
