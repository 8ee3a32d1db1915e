"""Stage 3 — intent: small talk (greeting, thanks, help) and advice requests are recognised by
their wording; everything else is a question for the knowledge base, where the answering core
decides between fact, faq, stat, clarify and out_of_scope from what it finds.
"""

from __future__ import annotations

import re

INTENTS = ("greeting", "thanks", "help", "fact", "faq", "stat", "clarify", "out_of_scope")

_GREETING = (r"掰掰|拜拜|再見|再会|再會|下次見|下次再問|下次再聊|先這樣|bye|goodbye|see you|exit|quit|離開|結束|退出|你好|您好|妳好|哈囉|哈啰|哈嘍|嗨|嗨嗨|安安|早安|午安|晚安|早上好|中午好|下午好|晚上好|早|大家好|"
             r"打擾了|打擾一下|打擾|不好意思|在嗎|在不在|有人嗎|有人在嗎|hello|hi|hey|hiya|yo|good morning|"
             r"good afternoon|good evening|greetings|howdy|你好嗎|你好呀|你好啊")
_THANKS = (r"謝謝|謝謝你|謝謝您|謝啦|謝了|多謝|感謝|感謝你|感謝您|感謝幫忙|謝謝幫忙|謝謝你的幫忙|感恩|辛苦了|3q|thx|thanks|"
           r"thank you|thank you very much|thanks a lot|many thanks|cheers|太好了|好的|好了|好喔|好哦|好唷|知道了|懂了|明白了|了解|瞭解|收到|ok|okay|讚|很有幫助")
_HELP = (r"能做什麼|可以做什麼|會做什麼|會什麼|能幹嘛|可以幹嘛|可以查什麼|能查什麼|可以問什麼|能問什麼|可以問哪些|"
         r"怎麼用|如何使用|使用說明|說明|幫助|功能|有什麼功能|你是誰|你是什麼|介紹一下你自己|help|what can you do|"
         # questions about the bot itself
         r"你是(?:不是)?(?:機器人|真人|人類|ai|人工智慧|聊天機器人)|你是真的人|你叫什麼|你的名字|誰做的|誰開發|"
         r"are you (?:a |an )?(?:bot|robot|human|person|real|ai)\b|what(?:'s| is) your name|who made you|who built you|"
         r"what do you do|how do i use|how does this work|who are you|what are you|commands|指令|我想問|我要問|問問題|"
         # composed: "要怎麼使用", "如何提問", "你能幹什麼", "可以做啥"
         r"(?:怎麼|怎樣|如何)(?:使用|用|操作|提問|問)|(?:能|可以|會)(?:幹|做|作)(?:什麼|甚麼|啥|嘛)")

_FILLER = r"[\s,，.。!！?？~～、:：;；…\-—()（）「」\"'😀-🙏👋👍🙂-🙏]*"
_SMALLTALK = re.compile(rf"^{_FILLER}(?:(?:{_GREETING}|{_THANKS}|{_HELP}|請問|請|那|嗯|呃|恩|啊|喔|哦|呀|啦|"
                        rf"機器人|小幫手|助手|bot|the bot|you|there|everyone|all|這個機器人|這個|這裡|這邊|你|您|我|要|可以|能|"
                        rf"呢|嗎|囉|咯|嘍|喔|哦|唷|喲|吧|了|想問|問題|資料|一下|很多|非常|真的|大|的|好){_FILLER})+$")
_GREETING_RE = re.compile(_GREETING)
_THANKS_RE = re.compile(_THANKS)
_HELP_RE = re.compile(_HELP)
_LEADING_GREETING = re.compile(rf"^{_FILLER}(?:{_GREETING})(?:{_FILLER}(?:請問|請教一下|想請問|我想問|問一下))?{_FILLER}")


_ASKS_ABOUT_BOT = re.compile(
    r"(?:你|您|機器人|小幫手|助手|bot|this|you).{0,8}(?:能|可以|會|可|can|could|do).{0,8}"
    r"(?:做|幫|回答|答|查|問|處理|help|do|answer|ask)|what can you|what do you|how (?:do|can) i use|help me with")
_THANKS_START = re.compile(r"謝|感謝|多謝|感恩|辛苦|3q|thx|thanks|thank you")
_QUESTION_MARKERS = re.compile(r"多少|幾|什麼時候|哪一年|哪天|how many|how much|when|which|\d")


def smalltalk_intent(text: str) -> str | None:
    """'greeting', 'thanks' or 'help' when the whole message is small talk, else None."""
    if not text.strip():
        return "help"
    if not _SMALLTALK.match(text):
        # "請問這個機器人可以查什麼資料？", "你會回答哪方面的問題？" ask about the bot itself.
        if (len(text) <= 60 and _ASKS_ABOUT_BOT.search(text) and not _QUESTION_MARKERS.search(text)) or (len(text) <= 30 and (
                _HELP_RE.search(text) and re.search(r"機器人|小幫手|你|bot|this|you", text))):
            return "help"
        # "謝啦，資料很清楚": thanks with a remark, but no new question.
        if _THANKS_START.match(text) and len(text) <= 40 and not _QUESTION_MARKERS.search(text):
            return "thanks"
        return None
    if _HELP_RE.search(text):
        return "help"
    if _THANKS_RE.search(text):
        return "thanks"
    return "greeting"


def strip_leading_greeting(text: str) -> str:
    """'你好，請問 iTaiwan 熱點有幾個' → 'iTaiwan 熱點有幾個'."""
    stripped = _LEADING_GREETING.sub("", text, count=1)
    return stripped if stripped.strip() else text
