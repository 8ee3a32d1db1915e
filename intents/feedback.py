"""Messages about the conversation rather than the report: a complaint about the last answer
("答案錯了", "不對", "wrong answer") and a request for a person or a contact ("我要找真人客服",
"國發會的聯絡方式", "how do I contact someone").

`feedback_intent(text)` recognises them by their wording, as small talk is recognised
(intents/classify.py): a complaint must open the message ("不對，應該是…" is one; "哪些資料不對外
開放" is not), and a contact request must be short and ask for a person, a phone, an e-mail or a
website. What is left once those words are taken away is the `rest`: a complaint's correction, or
the topic a contact request is about ("iTaiwan 的客服電話" → "itaiwan").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .normalize import normalize

MAX_CONTACT_CHARS = 40  # a longer message is a question that happens to mention a phone or a website

_FILLER = r"[\s,，.。!！?？~～、:：;；…\-—()（）「」\"'😀-🙏👎👍]*"
_FILLERS = _FILLER[:-1] + "+"
_PARTICLES = r"(?:了|啦|喔|哦|吧|耶|呢|啊|呀|唷|欸|嗎|吼|齁)*"
_COMPLAINT = re.compile(
    rf"^{_FILLER}(?:(?:你的?|妳的?|您的?|機器人的?|小幫手的?|這個?|那個?|上面的?|上面那個|剛剛的?|剛剛那個|剛才的?|上一個)?"
    r"(?:回答|答案|回覆|資料|數字|數據|內容)?(?:是|完全|根本|好像|似乎)?"
    r"(?:錯了|錯的|錯誤|有錯|答錯了?|說錯了?|講錯了?|給錯了?|有誤|不對|不正確|不準確|不準|不是這樣|不是這個|"
    r"不是我要的|不是我問的|答非所問|亂講|亂說|胡說|胡扯|亂回答?|沒有幫助|沒幫助|沒用)"
    rf"{_PARTICLES}|(?:that'?s |that is |this is |the answer is |your answer is |it'?s |it is )?"
    r"(?:wrong(?: answer)?|incorrect(?: answer)?|not (?:right|correct|helpful|what i asked)|bad answer|"
    r"that'?s not (?:right|it)|not useful|useless))"
    rf"(?={_FILLER}(?:$|[^\w]|應該|正確|其實|實際|明明|是))", re.IGNORECASE)

_CONTACT = re.compile(
    r"真人|人工(?:客服|服務)?|專人|客服電話|客服|找人|找個人|聯絡方式|聯絡資訊|聯絡電話|聯絡窗口|聯繫方式|聯繫電話|聯絡|聯繫|"
    r"窗口|承辦人|負責人|電話號碼|電話是?幾號|電話多少|電話是|打電話|電話(?=\s*[?？]?$)|信箱|e-?mail|電郵|官網|官方網站|網站|網址|"
    r"\bcontact(?:s| details| information)?\b|\b(?:real |actual )?(?:person|human|someone)\b|customer (?:service|support)|"
    r"\bagent\b|phone(?: number)?|e-?mail(?: address)?|(?:official )?website|\bweb ?site\b|\burl\b",
    re.IGNORECASE)
# Words around a contact request that carry no topic ("我要找…", "請給我…的…", "how can i …").
_CONTACT_FILLER = re.compile(
    r"我要|我想|我需要|想要|需要|請問|請給我|請提供|給我|提供|幫我|麻煩|可以|能不能|能否|有沒有|有無|怎麼|如何|要怎麼|"
    r"跟|和|與|或|的|是|什麼|多少|哪裡|在哪|誰|轉接|轉|找|問|打給|要|嗎|呢|吧|啊|一下|一個|"
    r"\b(?:i|i'd|i'm|want|would|like|need|to|talk|speak|with|a|an|the|can|could|how|do|does|get|in|touch|"
    r"please|give|me|is|what|for|of|reach|call|there|any|who|should|contact|your|about|regarding|on)\b",
    re.IGNORECASE)


# A contact word in a question about the report's figures ("政府網站有幾個", "電話詐騙防制成果"): a question.
_REPORT_QUESTION = re.compile(r"幾|多少|成果|比例|比率|率|%|數量|人次|how many|how much|\d", re.IGNORECASE)


@dataclass(frozen=True)
class FeedbackIntent:
    kind: str  # "complaint" or "contact"
    rest: str  # the correction typed after a complaint, or the topic of a contact request ("" for none)


def feedback_intent(text: str) -> FeedbackIntent | None:
    """A complaint about the last answer, a request for a person or a contact, or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    form = normalize(text).text
    m = _COMPLAINT.match(form)
    if m:
        rest = re.sub(rf"^{_FILLER}", "", form[m.end():]).strip()
        return FeedbackIntent("complaint", rest)
    if len(form) <= MAX_CONTACT_CHARS and _CONTACT.search(form):
        rest = _CONTACT.sub(" ", form)
        if _REPORT_QUESTION.search(rest):
            return None
        rest = re.sub(_FILLERS, " ", _CONTACT_FILLER.sub(" ", rest))
        return FeedbackIntent("contact", " ".join(rest.split()))
    return None
