"""The one reader of statistics requests, shared by chat, /stats, /chart, /export and the web API."""

import pytest

from bot.tables import budget_average, budget_breakdown, budget_change, budget_sum


@pytest.mark.parametrize("args, expected", [
    ("預算", dict(table="budget")),
    ("预算 2017 2020", dict(table="budget", years=[2017, 2020])),
    ("預算 2017-2019", dict(table="budget", years=[2017, 2018, 2019])),
    ("預算 主軸三", dict(table="budget", axis=3)),
    ("預算 第三主軸", dict(table="budget", axis=3, unknown="")),
    ("預算 民國109年", dict(table="budget", years=[2020], unknown="")),
    ("budget axis 6", dict(table="budget", axis=6)),
    ("預算 數位經濟", dict(table="budget", axis=2)),
    ("指標 數位經濟", dict(table="indicators", indicator="digital_economy")),
    ("指标 偏乡", dict(table="indicators", indicator="rural_gigabit_coverage")),
    ("指標 2020", dict(table="indicators", years=[2020])),
    ("預算 2015", dict(table="budget", outside_years=[2015])),
    ("指標 股價", dict(table="indicators", unknown="股價")),
    ("2019年各主軸預算", dict(table="budget", years=[2019], view="breakdown")),
    ("預算 主軸1 2017-2020 加總", dict(table="budget", axis=1, years=[2017, 2018, 2019, 2020], view="sum")),
    ("主軸1四年的預算加起來多少", dict(table="budget", axis=1, years=[2017, 2018, 2019, 2020], view="sum")),
    ("預算 2017 2020 增減", dict(table="budget", years=[2017, 2020], view="change")),
    ("平均每年預算", dict(table="budget", view="average")),
])
def test_requests_are_read_like_chat(assistant, args, expected):
    request = assistant.stats_request(args)
    for field, value in expected.items():
        assert getattr(request, field) == value, field


def test_a_relative_year_is_relative_to_today_and_outside_the_report(assistant):
    request = assistant.stats_request("預算 去年")
    this_year = assistant.understander.entities.this_year()
    assert request.outside_years == [this_year - 1] and request.relative_years == [("去年", this_year - 1)]
    assert request.years == []


def test_a_years_breakdown_lists_every_axis_the_stated_total_and_the_computed_sum(kb):
    view = budget_breakdown(kb, 2020)
    assert [r["text"] for r in view["rows"][:6]] == ["41.8億元", "57.8億元", "29.0億元", "43.4億元", "28.7億元", "53.7億元"]
    assert view["rows"][6]["value"] is None and view["rows"][6]["note"] == "N/A"
    assert view["stated_total"]["text"] == "244億元"
    assert view["computed_sum"]["text"] == "254.4" and view["discrepancy"]


def test_sums_changes_and_averages_are_computed_with_their_parts(kb):
    axis1 = budget_sum(kb, 1, [2017, 2018, 2019, 2020])
    assert axis1["computed"] == {"value": 118.6, "text": "118.6", "parts": ["5.2億元", "29.8億元", "41.8億元", "41.8億元"],
                                 "op": "sum"}
    total = budget_sum(kb, None, [])
    assert total["computed"]["text"] == "805" and total["axes_computed"]["text"] == "816.1"
    assert budget_change(kb, None, [2017, 2020])["computed"]["text"] == "+176"
    average = budget_average(kb, None, [])
    assert average["computed"]["text"] == "201.25" and "平均每年投入新臺幣約200億元" in average["stated"]["quote"]
    assert budget_sum(kb, 7, [2019])["empty_reason"].startswith("主軸7")
