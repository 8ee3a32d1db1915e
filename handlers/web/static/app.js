// DIGI+ 小幫手 — the web chat. Plain DOM APIs only: every text from the user or the server is set
// with textContent, never parsed as HTML.
"use strict";

(function () {
  var ASK_URL = "/api/ask";
  var EXAMPLES_URL = "/api/examples?n=4";
  var SESSION_KEY = "digibot.session";
  var MAX_CHARS = 2000;
  var TIMEOUT_MS = 20000;

  var form = document.getElementById("ask-form");
  var input = document.getElementById("question");
  var sendButton = document.getElementById("send");
  var log = document.getElementById("log");
  var statusLine = document.getElementById("status");
  var examples = document.getElementById("examples");
  var newChat = document.getElementById("new-chat");
  var busy = false;
  var memorySession = null;

  // ------------------------------------------------------------------ session
  function newId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function sessionId(reset) {
    try {
      var id = reset ? null : window.sessionStorage.getItem(SESSION_KEY);
      if (!id) {
        id = newId();
        window.sessionStorage.setItem(SESSION_KEY, id);
      }
      return id;
    } catch (e) { // storage disabled: keep it for this page only
      if (reset || !memorySession) memorySession = newId();
      return memorySession;
    }
  }

  // ------------------------------------------------------------------ rendering
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function addMessage(kind, who, text) {
    var article = el("article", "msg " + kind);
    article.appendChild(el("span", "who", who));
    article.appendChild(el("p", "text", text));
    log.appendChild(article);
    return article;
  }

  function chipGroup(label, questions) {
    var block = el("div", "chips-block");
    var id = "chips-" + Math.random().toString(36).slice(2);
    var heading = el("p", "chips-label", label);
    heading.id = id;
    var group = el("div", "chips");
    group.setAttribute("role", "group");
    group.setAttribute("aria-labelledby", id);
    questions.forEach(function (q) {
      if (typeof q !== "string" || !q) return;
      var chip = el("button", "chip", q);
      chip.type = "button";
      chip.addEventListener("click", function () { ask(q); });
      group.appendChild(chip);
    });
    block.appendChild(heading);
    block.appendChild(group);
    return block;
  }

  function renderAnswer(data) {
    var article = addMessage("bot", "小幫手", typeof data.answer === "string" ? data.answer : "");
    article.classList.add(data.answered ? "answered" : "unanswered");
    if (typeof data.read_chars === "number") {
      article.appendChild(el("p", "read-note", "（訊息很長，我只讀了前 " + data.read_chars.toLocaleString("zh-TW") + " 個字。）"));
    }
    var sources = Array.isArray(data.sources) ? data.sources : [];
    if (sources.length) {
      var list = el("ul", "sources");
      list.setAttribute("aria-label", "資料來源");
      sources.forEach(function (s) {
        var item = el("li", "source");
        var line = "來源：" + [s.section, s.title].filter(Boolean).join(" ");
        if (s.agency) line += "（" + s.agency + "）";
        item.appendChild(el("p", "source-line", line));
        if (s.quote) {
          var details = el("details", "quote");
          details.appendChild(el("summary", null, "查看報告原文"));
          details.appendChild(el("blockquote", null, s.quote));
          item.appendChild(details);
        }
        list.appendChild(item);
      });
      article.appendChild(list);
    }
    var suggestions = Array.isArray(data.suggestions) ? data.suggestions : [];
    if (suggestions.length) article.appendChild(chipGroup("延伸問題：", suggestions));
    return article;
  }

  function showError(message) {
    return addMessage("bot error", "系統訊息", message);
  }

  function setBusy(value) {
    busy = value;
    log.setAttribute("aria-busy", value ? "true" : "false");
    sendButton.setAttribute("aria-disabled", value ? "true" : "false");
    statusLine.textContent = value ? "小幫手正在查閱報告…" : "";
  }

  function reveal(node) {
    if (node && typeof node.scrollIntoView === "function") node.scrollIntoView({ block: "nearest" });
  }

  // ------------------------------------------------------------------ asking
  function errorFor(response, body) {
    if (response.status === 429) {
      var wait = parseInt(response.headers.get("Retry-After") || "", 10);
      return "您提問的速度有點快，請" + (wait > 0 ? "在 " + wait + " 秒後" : "稍後") + "再試一次。";
    }
    if (response.status === 413 || (body && body.limit)) {
      return "問題太長了，請精簡到 " + MAX_CHARS.toLocaleString("zh-TW") + " 字以內再送出。";
    }
    if (response.status >= 500) return "小幫手暫時無法回答，請稍後再試。";
    return "這個問題無法送出（錯誤代碼 " + response.status + "），請換個方式再問一次。";
  }

  function ask(text) {
    var question = (text || "").trim();
    if (!question || busy) return;
    if (question.length > MAX_CHARS) {
      reveal(showError("問題太長了，請精簡到 " + MAX_CHARS.toLocaleString("zh-TW") + " 字以內再送出。"));
      return;
    }
    reveal(addMessage("user", "您", question));
    setBusy(true);
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    fetch(ASK_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ q: question, session: sessionId(false) }),
      signal: controller ? controller.signal : undefined,
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (response.ok && body && typeof body === "object") {
          reveal(renderAnswer(body));
        } else {
          reveal(showError(errorFor(response, body)));
          if (!input.value) input.value = question; // nothing lost: ready to send again
        }
      });
    }).catch(function () {
      reveal(showError("無法連線到小幫手，請檢查網路連線後再試一次。"));
      if (!input.value) input.value = question;
    }).then(function () {
      if (timer) clearTimeout(timer);
      setBusy(false);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    var text = input.value;
    if (!text.trim()) {
      input.focus();
      return;
    }
    input.value = "";
    ask(text);
  });

  input.addEventListener("keydown", function (event) {
    // Enter sends; Shift+Enter is a new line; Enter that confirms an IME candidate (注音, 倉頡) does not send.
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else form.dispatchEvent(new Event("submit", { cancelable: true }));
  });

  newChat.addEventListener("click", function () {
    Array.prototype.slice.call(log.querySelectorAll(".msg:not(.intro)")).forEach(function (node) {
      node.parentNode.removeChild(node);
    });
    sessionId(true);
    statusLine.textContent = "已開始新對話。";
    input.focus();
  });

  // ------------------------------------------------------------------ first suggestions
  fetch(EXAMPLES_URL, { headers: { "Accept": "application/json" } })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (body) {
      var list = body && Array.isArray(body.examples) ? body.examples : [];
      if (!list.length) return;
      var group = examples.querySelector(".chips");
      list.forEach(function (q) {
        if (typeof q !== "string" || !q) return;
        var chip = el("button", "chip", q);
        chip.type = "button";
        chip.addEventListener("click", function () { ask(q); });
        group.appendChild(chip);
      });
      examples.hidden = false;
    })
    .catch(function () { /* the page works without examples */ });
}());
