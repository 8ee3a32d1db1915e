"""Feedback and teaching below the channels: complaints and contact requests recognised and answered,
votes stored (changeable, hashed, surviving a restart), the agency directory checked at build, and
teachings built into the knowledge base (a stale data-directory teaching never blocks a start)."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
import yaml

from bot.assistant import Assistant
from bot.core import Core
from bot.feedback import FeedbackStore
from bot.querylog import LOG_FILENAME, QueryLog
from bot.service import KnowledgeService, taught_dir
from bot.session import Session
from bot.teach import TeachStore, expected_figures, question_key, unanswered_groups
from intents.feedback import feedback_intent
from knowledge.build import KNOWLEDGE_DIR, BuildError, build_kb
from knowledge.store import load_kb


# ------------------------------------------------------------------------ recognising
@pytest.mark.parametrize("text", ["答案錯了", "不對", "不對喔", "你答錯了！", "那個答案是錯的", "答非所問", "wrong answer",
                                  "That's wrong", "不對，應該是9,735個", "Incorrect."])
def test_complaints(text):
    assert feedback_intent(text).kind == "complaint"


def test_a_complaint_keeps_the_correction():
    assert feedback_intent("不對，應該是9,735個").rest == "應該是9,735個"


@pytest.mark.parametrize("text", ["不對外開放的資料有哪些", "哪些資料錯了", "錯誤率多少", "iTaiwan 熱點有幾個",
                                  "電話詐騙防制成果", "政府網站有幾個", "5G網路的網站有幾個"])
def test_questions_that_only_look_like_feedback(text):
    assert feedback_intent(text) is None


@pytest.mark.parametrize("text, rest", [("我要找真人客服", ""), ("客服", ""), ("How can I contact someone?", ""),
                                        ("iTaiwan 的客服電話", "itaiwan"), ("怎麼聯絡國發會", "國發會"),
                                        ("MyData 網址", "mydata"), ("數位經濟的聯絡窗口是誰", "數位經濟")])
def test_contact_requests_and_their_topic(text, rest):
    found = feedback_intent(text)
    assert found.kind == "contact" and found.rest == rest


# ------------------------------------------------------------------------ answering
def test_a_typed_complaint_is_a_down_vote_on_the_last_answer(core):
    session = Session()
    answer = core.answer("iTaiwan 熱點有幾個", session, channel="web", user="s1")
    assert answer.answered and answer.answer_id
    ack = core.answer("答案錯了", session, channel="web", user="s1")
    assert ack.intent == "feedback" and not ack.answered and "記為不正確" in ack.answer
    assert core.feedback.tally(answer.answer_id) == {"up": 0, "down": 1}
    assert core.feedback.user_vote(answer.answer_id, "s1") == "down"
    again = core.answer("不對", session, channel="web", user="s1")  # the complaint itself is not "the last answer"
    assert "記為不正確" in again.answer and core.feedback.tally(answer.answer_id)["down"] == 1


def test_a_complaint_with_nothing_to_complain_about(core):
    ack = core.answer("答案錯了", Session(), channel="web", user="s2")
    assert ack.intent == "feedback" and "還沒有可以標記的回答" in ack.answer and core.feedback.count_votes() == 0


def test_a_request_for_a_person_names_the_agency_of_the_last_answer_and_its_website(core):
    session = Session()
    core.answer("iTaiwan 熱點有幾個", session, channel="web", user="s3")
    reply = core.answer("我要找真人客服", session, channel="web", user="s3")
    assert not reply.answered and reply.intent == "out_of_scope"
    assert [c.agency for c in reply.contacts] == ["國發會", "通傳會", "交通部"]
    assert reply.contacts[0].website == "https://www.ndc.gov.tw/"
    assert "國發會" in reply.answer and "不是報告內容" in reply.answer
    data = reply.to_dict()
    assert data["contacts"][0] == {"agency": "國發會", "name": "國家發展委員會", "website": "https://www.ndc.gov.tw/"}


def test_a_contact_request_about_a_topic_or_an_agency(core):
    topic = core.answer("MyData 的聯絡方式", Session(), channel="web", user="s4")
    assert topic.contacts and "「mydata」" in topic.answer.lower()
    named = core.answer("怎麼聯絡國發會", Session(), channel="web", user="s4")
    assert [c.agency for c in named.contacts] == ["國發會"]
    nothing = core.answer("我要找真人客服", Session(), channel="web", user="s4")
    assert not nothing.contacts and "哪一項業務" in nothing.answer
    english = core.answer("How can I contact someone?", Session(), channel="web", user="s4")
    assert english.lang == "en" and "no person" in english.answer


def test_a_refusal_that_names_the_agency_gives_its_website(core):
    answer = core.answer("勞動部在職訓練補助要怎麼申請", Session(), channel="web", user="s5")
    assert not answer.answered and answer.contacts
    assert all(c.website.startswith("https://") and c.website.rstrip("/").endswith(".gov.tw") for c in answer.contacts)


# ------------------------------------------------------------------------ storing
def test_votes_are_changeable_hashed_and_survive_a_restart(tmp_path, web_service):
    log = QueryLog(tmp_path)
    core = Core(web_service, log)
    answer = core.answer("iTaiwan 熱點有幾個", Session(), channel="private", user=424242)
    assert core.vote(answer.answer_id, "up", user=424242).previous is None
    assert core.vote(answer.answer_id, "down", user=424242).previous == "up"
    assert core.vote(answer.answer_id, "up", user=97531864).current == "up"  # another user in a group
    assert core.feedback.tally(answer.answer_id) == {"up": 1, "down": 1}
    assert core.vote("no-such-answer", "up", user=1) is None
    assert core.vote(answer.answer_id, "up", user=999, owner_only=True) is None  # the web: not theirs
    core.close()

    reopened = FeedbackStore(tmp_path, QueryLog(tmp_path).user_hash)
    assert reopened.tally(answer.answer_id) == {"up": 1, "down": 1}
    assert reopened.answer(answer.answer_id)["question"] == "iTaiwan 熱點有幾個"
    reopened.vote(answer.answer_id, user=424242, vote=None)
    assert reopened.tally(answer.answer_id) == {"up": 1, "down": 0}
    reopened.close()
    dump = "\n".join(sqlite3.connect(tmp_path / LOG_FILENAME).iterdump())
    assert "424242" not in dump and "97531864" not in dump  # ids long enough not to turn up in a hex hash by chance


def test_phone_and_id_numbers_are_masked_in_answers_and_corrections_kept_for_review(tmp_path, web_service):
    core = Core(web_service, QueryLog(tmp_path))
    session = Session()
    core.answer("我電話0912-345-678，iTaiwan 熱點有幾個", session, channel="private", user=5)
    core.answer("錯了，我身分證A123456789，應該更多", session, channel="private", user=5)
    core.close()
    dump = "\n".join(sqlite3.connect(tmp_path / LOG_FILENAME).iterdump())
    assert "0912-345-678" not in dump and "A123456789" not in dump
    assert "[電話號碼]" in dump and "[身分證號]" in dump  # masked, not dropped


def test_grouping_by_similarity():
    rows = [{"id": str(i), "question": q, "reason": r, "suggestions": [], "answer": "a", "ts": f"2025-01-01T00:00:0{i}",
             "comment": ""}
            for i, (q, r) in enumerate([("政府免費wifi有幾個點", "disliked"), ("政府免費wifi有幾個點？", "refused"),
                                        ("政府請客的wifi有幾個點", "refused"), ("明天天氣如何", "refused")])]
    groups = unanswered_groups(rows)
    assert [g.total for g in groups] == [3, 1]
    assert groups[0].reasons == {"disliked": 1, "refused": 2} and groups[1].question == "明天天氣如何"
    assert unanswered_groups(rows, {question_key("明天天氣如何")})[-1].total == 3  # handled ones are left out


def test_a_taught_question_expects_the_taught_answers_figures():
    assert expected_figures("截至2020年12月31日止，全臺已提供逾9,735個 iTaiwan 熱點，總使用逾4.46億人。") == [
        ["9,735個"], ["4.46億人"]]


# ------------------------------------------------------------------------ building
def _agencies(knowledge_copy):
    path = knowledge_copy / "curated" / "agencies.yaml"
    return path, yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("website, problem", [("http://www.ndc.gov.tw/", "not an official website"),
                                              ("https://www.ndc.gov.tw/?phone=0223165300", "not an official website"),
                                              ("https://example.com/", "not an official website"),
                                              ("02-2316-5300", "not an official website")])
def test_agency_websites_are_checked_for_form(knowledge_copy, tmp_path, website, problem):
    path, entries = _agencies(knowledge_copy)
    entries[0]["website"] = website
    path.write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    with pytest.raises(BuildError, match=problem):
        build_kb(tmp_path, knowledge_copy)


def test_every_agency_the_report_names_is_in_the_directory(knowledge_copy, tmp_path):
    path, entries = _agencies(knowledge_copy)
    path.write_text(yaml.safe_dump([e for e in entries if e["name"] != "文化部"], allow_unicode=True), encoding="utf-8")
    with pytest.raises(BuildError, match="文化部"):
        build_kb(tmp_path, knowledge_copy)
    entries.append({"name": "不存在部", "full_name": "不存在部", "website": "https://www.nowhere.gov.tw/"})
    path.write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    with pytest.raises(BuildError, match="不存在部.*not named in the report"):
        build_kb(tmp_path, knowledge_copy)


def test_teachings_are_built_in_and_a_stale_one_is_skipped_not_fatal(kb, tmp_path, knowledge_copy):
    taught = tmp_path / "taught"
    taught.mkdir()
    faq = next(e for e in kb.faq if "iTaiwan 熱點" in e.question)
    node = kb.nodes_by_path["壹、"]
    (taught / "taught.yaml").write_text(yaml.safe_dump([
        {"id": "taught-a", "kind": "alternates", "faq": faq.id, "questions": ["政府免費wifi有幾個點"]},
        {"id": "taught-b", "kind": "entry", "question": "DIGI+誰提出的", "answer": kb.node_sentences(node.id)[0].text,
         "path": "壹、"},
        {"id": "taught-c", "kind": "out_of_scope", "questions": ["台積電股價"]},
        {"id": "taught-d", "kind": "alternates", "faq": "no-such-entry", "questions": ["x"]},
        {"id": "taught-e", "kind": "entry", "question": "y", "answer": "共有999,999個", "path": "壹、"},
    ], allow_unicode=True), encoding="utf-8")
    result = build_kb(tmp_path / "kb", knowledge_copy, taught)
    assert result.taught == ["taught-a", "taught-b", "taught-c"]
    assert any("no-such-entry" in s for s in result.taught_skipped) and any("999,999" in s for s in result.taught_skipped)
    built = load_kb(result.path)
    assert "政府免費wifi有幾個點" in next(e for e in built.faq if e.id == faq.id).alternates
    assert next(e for e in built.faq if e.id == "taught-b").question == "DIGI+誰提出的"
    assert built.taught_out_of_scope == ["台積電股價"] and built.counts["taught"] == 3

    # Committed (knowledge/curated/taught.yaml), the same mistakes fail the build, naming the file and entry.
    shutil.copy(taught / "taught.yaml", knowledge_copy / "curated" / "taught.yaml")
    with pytest.raises(BuildError, match=r"taught\.yaml.*no-such-entry"):
        build_kb(tmp_path / "kb2", knowledge_copy)


def test_marked_out_of_scope_is_refused_after_the_reload(data_dir):
    log = QueryLog(data_dir)
    teach = TeachStore(data_dir, log.user_hash)
    service = KnowledgeService(data_dir, questions=KNOWLEDGE_DIR / "curated" / "questions" / "project.jsonl", teach=teach)
    core = Core(service, log, teach=teach)
    question = "政府免費wifi有幾個點"  # answered (wrongly) today; no labelled question asks it
    assert core.answer(question, Session(), channel="cli", user=1).answered
    teach.mark_out_of_scope([question], by=1)
    assert core.answer(question, Session(), channel="cli", user=1).answered  # not before /reload
    result = service.reload()
    assert result.ok and result.taught == [1] and teach.get(1).status == "active"
    assert result.taught_right == result.taught_total == 1
    assert Assistant.load(data_dir).prepared  # the reloaded KB carries its start-up state for the next start
    refused = core.answer(question, Session(), channel="cli", user=1)
    assert not refused.answered and refused.intent == "out_of_scope" and "不在報告的範圍內" in refused.answer
    assert core.answer(" 政府免費WiFi有幾個點？", Session(), channel="cli", user=1).intent == "out_of_scope"
    assert core.answer("iTaiwan 熱點有幾個", Session(), channel="cli", user=1).answered  # nothing else
    core.close()


def test_export_taught_writes_files_that_build_like_the_data_directory(data_dir, tmp_path, knowledge_copy, kb):
    teach = TeachStore(data_dir)
    faq = next(e for e in kb.faq if "iTaiwan 熱點" in e.question)
    teaching = teach.teach_faq(["政府免費wifi有幾個點"], faq, by=1)
    teach.settle([teaching.id], [], ok=True)
    paths = teach.export(tmp_path / "export")
    assert [p.relative_to(tmp_path / "export").as_posix() for p in paths] == ["taught.yaml", "questions/taught.jsonl"]
    row = json.loads(paths[1].read_text(encoding="utf-8"))
    assert row["q"] == "政府免費wifi有幾個點" and row["expect"] == [["9,735個"], ["4.46億人"]]
    shutil.copy(paths[0], knowledge_copy / "curated" / "taught.yaml")
    shutil.copy(paths[1], knowledge_copy / "curated" / "questions" / "taught.jsonl")
    built = load_kb(build_kb(tmp_path / "kb", knowledge_copy).path)
    assert "政府免費wifi有幾個點" in next(e for e in built.faq if e.id == faq.id).alternates

    # With the teaching both committed and in the data directory, it is built in once.
    teach.write_files(taught_dir(data_dir), candidate=False)
    both = build_kb(tmp_path / "kb2", knowledge_copy, taught_dir(data_dir))
    assert both.taught == [teaching.file_id] and not both.taught_skipped
    teach.close()
