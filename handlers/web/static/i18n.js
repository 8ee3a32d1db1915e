// DIGI+ 小幫手 — the interface's words in Traditional Chinese and English. The language follows the
// browser's (navigator.languages) until the visitor picks one with the switch; the choice is kept in
// localStorage. Elements carry data-i18n (text), data-i18n-placeholder or data-i18n-aria (aria-label).
"use strict";

(function () {
  var KEY = "digibot.lang";
  var STRINGS = {
    zh: {
      "name": "DIGI+ 小幫手",
      "skip": "跳到提問框",
      "tagline": "依據《DIGI+方案 2017–2020 年成果報告》回答，並附上原文出處。",
      "nav.label": "網站",
      "nav.chat": "對話",
      "nav.stats": "統計表",
      "switch": "English",
      "switch.lang": "en",
      "chat.title": "DIGI+ 小幫手",
      "chat.log": "對話紀錄",
      "chat.intro": "您好！我可以回答 DIGI+ 方案 2017–2020 年的推動成果，例如寬頻涵蓋率、iTaiwan 熱點、各主軸預算。每個回答都會附上報告出處與原文引述。",
      "chat.examples": "可以這樣問：",
      "chat.label": "輸入您的問題",
      "chat.placeholder": "例如：iTaiwan 熱點有幾個？",
      "chat.send": "送出",
      "chat.hint.keys": "按 Enter 送出，Shift + Enter 換行。",
      "chat.hint.touch": "按「送出」傳送。",
      "chat.hint.limit": "最多 2,000 字。",
      "chat.new": "開始新對話",
      "chat.newDone": "已開始新對話。",
      "chat.busy": "小幫手正在查閱報告…",
      "who.you": "您",
      "who.bot": "小幫手",
      "who.system": "系統訊息",
      "sources": "資料來源",
      "source": "來源：",
      "related": "報告中的相關段落：",
      "quote": "查看報告原文",
      "suggest.related": "延伸問題：",
      "suggest.clarify": "您是想問下列哪一個？",
      "suggest.refused": "您可以試試：",
      "suggest.none": "都不是，我換個說法",
      "suggest.rephrase": "請換個說法再問一次，例如加上年份、計畫或機關名稱。",
      "contacts": "機關官方網站（取自機關名錄，非報告內容）：",
      "feedback.label": "這個回答有幫助嗎？",
      "feedback.up": "有幫助",
      "feedback.down": "不正確",
      "feedback.thanks.up": "謝謝您的回饋！",
      "feedback.thanks.down": "謝謝，已記下這個回答不正確，管理員會檢視。",
      "feedback.cleared": "已取消回饋。",
      "feedback.failed": "回饋沒有送出，請稍後再試。",
      "failed": "（未送出）",
      "error.rate": "您提問的速度有點快，請{wait}再試一次。",
      "error.rate.seconds": "在 {n} 秒後",
      "error.rate.later": "稍後",
      "error.long": "問題太長了，請精簡到 {n} 字以內再送出。",
      "answer.read_chars": "（訊息很長，我只讀了前 {n} 個字。）",
      "error.server": "小幫手暫時無法回答，請稍後再試。",
      "error.other": "這個問題無法送出（錯誤代碼 {n}），請換個方式再問一次。",
      "error.network": "無法連線到小幫手，請檢查網路連線後再試一次。",
      "stats.title": "DIGI+ 統計表",
      "stats.heading": "DIGI+ 方案統計表",
      "stats.intro": "報告中的投入預算表與總體指標表，數字依報告原文；計算值另外標示。也可以在對話中直接問，例如「2019年各主軸預算」。",
      "stats.toc": "本頁內容",
      "stats.budget": "投入預算",
      "stats.budget.caption": "DIGI+方案投入預算 {span}（單位：億元）",
      "stats.axis": "主軸",
      "stats.stated": "合計（報告表列）",
      "stats.computed": "各主軸加總＊",
      "stats.computedNote": "＊為計算值（報告未列）；⚠ 表示與報告表列合計不一致。",
      "stats.budget.chart": "各主軸投入預算圖",
      "stats.indicators": "總體指標",
      "stats.indicator": "指標",
      "stats.unit": "單位",
      "stats.estimate": "＊ 預估值",
      "stats.definition": "定義：",
      "stats.chart": "{name}圖",
      "stats.source": "來源：{section} {title}（數字依報告原文）",
      "stats.csv": "下載 CSV",
      "stats.link": "本節連結",
      "stats.loading": "正在載入報告的表格…",
      "stats.failed": "表格載入失敗，請重新整理頁面。",
      "stats.rank": "名次：數字愈小排名愈前。",
      "chart.alt.budget": "長條圖：{span} 各年度各主軸投入預算，與上表數字相同",
      "chart.alt.indicator": "長條圖：{name}各年度數值，與上表數字相同"
    },
    en: {
      "name": "DIGI+ Assistant",
      "skip": "Skip to the question box",
      "tagline": "Answers from the DIGI+ programme's 2017–2020 results report, with the report's own words.",
      "nav.label": "Site",
      "nav.chat": "Chat",
      "nav.stats": "Tables",
      "switch": "中文",
      "switch.lang": "zh-Hant",
      "chat.title": "DIGI+ Assistant",
      "chat.log": "Conversation",
      "chat.intro": "Hello! I answer questions about the results of Taiwan's DIGI+ programme in 2017–2020 — broadband coverage, iTaiwan hotspots, the budget of each policy axis. Every answer cites the report's section and quotes it.",
      "chat.examples": "You could ask:",
      "chat.label": "Your question",
      "chat.placeholder": "e.g. How many iTaiwan hotspots are there?",
      "chat.send": "Send",
      "chat.hint.keys": "Enter sends, Shift + Enter starts a new line.",
      "chat.hint.touch": "Tap Send to ask.",
      "chat.hint.limit": "Up to 2,000 characters.",
      "chat.new": "New conversation",
      "chat.newDone": "A new conversation has started.",
      "chat.busy": "Looking it up in the report…",
      "who.you": "You",
      "who.bot": "Assistant",
      "who.system": "System",
      "sources": "Sources",
      "source": "Source: ",
      "related": "Related passage in the report: ",
      "quote": "Show the report's text",
      "suggest.related": "Related questions:",
      "suggest.clarify": "Which of these did you mean?",
      "suggest.refused": "You could try:",
      "suggest.none": "None of these — I'll rephrase",
      "suggest.rephrase": "Please ask again in other words, e.g. with the year, the programme or the agency.",
      "contacts": "Official websites (from the agency directory, not the report):",
      "feedback.label": "Was this answer helpful?",
      "feedback.up": "Helpful",
      "feedback.down": "Wrong",
      "feedback.thanks.up": "Thank you for the feedback!",
      "feedback.thanks.down": "Thank you — noted as wrong; an administrator will review it.",
      "feedback.cleared": "Feedback withdrawn.",
      "feedback.failed": "The feedback was not sent; please try again later.",
      "failed": "(not sent)",
      "error.rate": "You are asking a little fast; please try again {wait}.",
      "error.rate.seconds": "in {n} seconds",
      "error.rate.later": "later",
      "error.long": "The question is too long; please keep it under {n} characters.",
      "answer.read_chars": "(A long message: I read only the first {n} characters.)",
      "error.server": "The assistant cannot answer right now; please try again later.",
      "error.other": "The question could not be sent (error {n}); please ask in another way.",
      "error.network": "Cannot reach the assistant; please check your connection and try again.",
      "stats.title": "DIGI+ tables",
      "stats.heading": "DIGI+ programme tables",
      "stats.intro": "The report's budget and headline indicator tables, as printed; computed figures are marked. You can also ask in the chat, e.g. “budget per axis in 2019”.",
      "stats.toc": "On this page",
      "stats.budget": "Budget",
      "stats.budget.caption": "DIGI+ budget {span} (NT$100 million, 億元)",
      "stats.axis": "Axis",
      "stats.stated": "Total (as printed)",
      "stats.computed": "Sum of the axes*",
      "stats.computedNote": "* computed (not printed in the report); ⚠ differs from the printed total.",
      "stats.budget.chart": "Budget per axis, chart",
      "stats.indicators": "Headline indicators",
      "stats.indicator": "Indicator",
      "stats.unit": "Unit",
      "stats.estimate": "* estimate",
      "stats.definition": "Definition: ",
      "stats.chart": "{name}, chart",
      "stats.source": "Source: {section} {title} (figures as printed in the report)",
      "stats.csv": "Download CSV",
      "stats.link": "Link to this section",
      "stats.loading": "Loading the report's tables…",
      "stats.failed": "The tables could not be loaded; please reload the page.",
      "stats.rank": "Rank: a smaller number is a better rank.",
      "chart.alt.budget": "Bar chart: budget per axis and year, {span}, the figures of the table above",
      "chart.alt.indicator": "Bar chart: {name} per year, the figures of the table above"
    }
  };
  var listeners = [];

  function stored() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }

  function fromBrowser() {
    var langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    for (var i = 0; i < langs.length; i++) {
      var tag = String(langs[i] || "").toLowerCase();
      if (tag.indexOf("zh") === 0) return "zh";
      if (tag.indexOf("en") === 0) return "en";
    }
    return "zh";
  }

  var current = stored() === "en" || stored() === "zh" ? stored() : fromBrowser();

  function t(key, vars) {
    var text = (STRINGS[current] && STRINGS[current][key]) || STRINGS.zh[key] || key;
    if (vars) {
      Object.keys(vars).forEach(function (name) { text = text.split("{" + name + "}").join(String(vars[name])); });
    }
    return text;
  }

  function apply(root) {
    root = root || document;
    document.documentElement.lang = current === "en" ? "en" : "zh-Hant";
    Array.prototype.forEach.call(root.querySelectorAll("[data-i18n]"), function (node) {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
    Array.prototype.forEach.call(root.querySelectorAll("[data-i18n-placeholder]"), function (node) {
      node.setAttribute("placeholder", t(node.getAttribute("data-i18n-placeholder")));
    });
    Array.prototype.forEach.call(root.querySelectorAll("[data-i18n-aria]"), function (node) {
      node.setAttribute("aria-label", t(node.getAttribute("data-i18n-aria")));
    });
    var button = document.getElementById("lang-switch");
    if (button) {
      button.textContent = t("switch");
      button.setAttribute("lang", t("switch.lang"));
    }
  }

  function set(lang) {
    current = lang === "en" ? "en" : "zh";
    try { window.localStorage.setItem(KEY, current); } catch (e) { /* kept for this page only */ }
    apply();
    listeners.forEach(function (fn) { fn(current); });
  }

  window.DigibotI18n = {
    t: t,
    apply: apply,
    set: set,
    lang: function () { return current; },
    onChange: function (fn) { listeners.push(fn); }
  };

  function start() {
    apply();
    var button = document.getElementById("lang-switch");
    if (button) button.addEventListener("click", function () { set(current === "en" ? "zh" : "en"); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}());
