// DIGI+ 小幫手 — the web chat. Plain DOM APIs only: every text from the user or the server is set
// with textContent, never parsed as HTML. Words of the interface come from i18n.js.
"use strict";

(function () {
  var ASK_URL = "/api/ask";
  var FEEDBACK_URL = "/api/feedback";
  var SESSION_KEY = "digibot.session";
  var MAX_CHARS = 2000;
  var TIMEOUT_MS = 20000;
  var GAP = 8; // px kept between a revealed message and the composer (or the top of the window)
  // Not answers: small talk, acknowledgements, and did-you-mean (whose feedback is "none of these").
  var NO_FEEDBACK = { greeting: true, thanks: true, help: true, feedback: true, clarify: true };
  var i18n = window.DigibotI18n;
  var t = i18n.t;

  var form = document.getElementById("ask-form");
  var input = document.getElementById("question");
  var sendButton = document.getElementById("send");
  var log = document.getElementById("log");
  var statusLine = document.getElementById("status");
  var examples = document.getElementById("examples");
  var newChat = document.getElementById("new-chat");
  var composer = document.getElementById("composer");
  var busy = false;
  var memorySession = null;
  var failed = []; // [question, user bubble, error message] of questions that did not get through

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

  function label(tag, className, key) {
    var node = el(tag, className, t(key));
    node.setAttribute("data-i18n", key);
    return node;
  }

  function addMessage(kind, whoKey, text) {
    var article = el("article", "msg " + kind);
    article.appendChild(label("span", "who", whoKey));
    article.appendChild(el("p", "text", text));
    log.appendChild(article);
    return article;
  }

  function chip(question) {
    var button = el("button", "chip", question);
    button.type = "button";
    button.addEventListener("click", function () { ask(question); });
    return button;
  }

  function chipGroup(labelKey, questions, extra) {
    var block = el("div", "chips-block");
    var id = "chips-" + Math.random().toString(36).slice(2);
    var heading = label("p", "chips-label", labelKey);
    heading.id = id;
    var group = el("div", "chips");
    group.setAttribute("role", "group");
    group.setAttribute("aria-labelledby", id);
    questions.forEach(function (q) {
      if (typeof q === "string" && q) group.appendChild(chip(q));
    });
    if (extra) group.appendChild(extra);
    block.appendChild(heading);
    block.appendChild(group);
    return block;
  }

  // Sources: one item per section (quotes of the same section merged); a refusal shows only a passage that
  // says something (a source whose quote is its bare heading is no source).
  function sourceItems(data) {
    var items = [];
    var byKey = {};
    (Array.isArray(data.sources) ? data.sources : []).forEach(function (s) {
      if (!s || typeof s !== "object") return;
      var quote = typeof s.quote === "string" ? s.quote.trim() : "";
      var title = typeof s.title === "string" ? s.title.trim() : "";
      if (!data.answered && (!quote || quote === title)) return;
      var key = [s.section, title, s.agency].join("|");
      var item = byKey[key];
      if (!item) {
        item = byKey[key] = { section: s.section || "", title: title, agency: s.agency || "", quotes: [] };
        items.push(item);
      }
      if (quote && item.quotes.indexOf(quote) < 0) item.quotes.push(quote);
    });
    return items;
  }

  function renderSources(data, article) {
    var items = sourceItems(data);
    if (!items.length) return;
    var list = el("ul", "sources");
    list.setAttribute("aria-label", t("sources"));
    list.setAttribute("data-i18n-aria", "sources");
    items.forEach(function (s) {
      var where = [s.section, s.title].filter(Boolean).join(" ");
      var item = el("li", "source");
      var line = el("p", "source-line");
      line.appendChild(label("span", "source-label", data.answered ? "source" : "related"));
      line.appendChild(el("span", null, where + (s.agency ? "（" + s.agency + "）" : "")));
      item.appendChild(line);
      if (s.quotes.length) {
        var details = el("details", "quote");
        var summary = el("summary");
        summary.appendChild(label("span", null, "quote"));
        // The visible words are the same for every source; the section makes each name distinct.
        summary.appendChild(el("span", "visually-hidden", " — " + where));
        details.appendChild(summary);
        s.quotes.forEach(function (q) { details.appendChild(el("blockquote", null, q)); });
        item.appendChild(details);
      }
      list.appendChild(item);
    });
    article.appendChild(list);
  }

  function renderContacts(data, article) {
    var contacts = Array.isArray(data.contacts) ? data.contacts : [];
    contacts = contacts.filter(function (c) {
      return c && typeof c.website === "string" && /^https:\/\/[a-z0-9.-]+\.(gov|edu)\.tw\//.test(c.website);
    });
    if (!contacts.length) return;
    var block = el("div", "contacts");
    var id = "contacts-" + Math.random().toString(36).slice(2);
    var heading = label("p", "contacts-label", "contacts");
    heading.id = id;
    var list = el("ul");
    list.setAttribute("aria-labelledby", id);
    contacts.forEach(function (c) {
      var item = el("li");
      item.appendChild(el("span", null, (c.name || c.agency || "") + "："));
      var link = el("a", null, c.website);
      link.href = c.website;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      item.appendChild(link);
      list.appendChild(item);
    });
    block.appendChild(heading);
    block.appendChild(list);
    article.appendChild(block);
  }

  function sendFeedback(answerId, vote, source) {
    return fetch(FEEDBACK_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ answer_id: answerId, vote: vote, session: sessionId(false), source: source || "button" }),
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) throw new Error("feedback " + response.status);
      return response.json();
    });
  }

  function feedbackRow(data) {
    var row = el("div", "feedback");
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", t("feedback.label"));
    row.setAttribute("data-i18n-aria", "feedback.label");
    var buttons = {};
    ["up", "down"].forEach(function (vote) {
      var button = el("button", "vote vote-" + vote); // the thumb is a CSS image: emoji fonts are not everywhere
      button.type = "button";
      button.setAttribute("aria-pressed", "false");
      button.appendChild(label("span", null, "feedback." + vote));
      button.addEventListener("click", function () {
        var chosen = button.getAttribute("aria-pressed") === "true" ? null : vote; // again: take it back
        var before = { up: buttons.up.getAttribute("aria-pressed"), down: buttons.down.getAttribute("aria-pressed") };
        buttons.up.setAttribute("aria-pressed", chosen === "up" ? "true" : "false");
        buttons.down.setAttribute("aria-pressed", chosen === "down" ? "true" : "false");
        sendFeedback(data.answer_id, chosen).then(function () {
          statusLine.textContent = t(chosen ? "feedback.thanks." + chosen : "feedback.cleared");
        }).catch(function () {
          buttons.up.setAttribute("aria-pressed", before.up);
          buttons.down.setAttribute("aria-pressed", before.down);
          statusLine.textContent = t("feedback.failed");
        });
      });
      buttons[vote] = button;
      row.appendChild(button);
    });
    return row;
  }

  function noneOfThese(data, question) {
    var button = el("button", "chip chip-none");
    button.type = "button";
    button.appendChild(label("span", null, "suggest.none"));
    button.addEventListener("click", function () {
      if (data.answer_id) sendFeedback(data.answer_id, "down", "none_of_these").catch(function () { /* not needed to go on */ });
      input.value = question || "";
      input.focus();
      input.select();
      statusLine.textContent = t("suggest.rephrase");
    });
    return button;
  }

  function renderAnswer(data, question) {
    var article = addMessage("bot", "who.bot", typeof data.answer === "string" ? data.answer : "");
    article.classList.add(data.answered ? "answered" : "unanswered");
    if (typeof data.intent === "string") article.setAttribute("data-intent", data.intent);
    if (typeof data.read_chars === "number") {
      article.appendChild(el("p", "read-note", t("answer.read_chars", { n: data.read_chars.toLocaleString() })));
    }
    renderContacts(data, article);
    renderSources(data, article);
    var suggestions = Array.isArray(data.suggestions) ? data.suggestions : [];
    if (data.intent === "clarify") {
      article.appendChild(chipGroup("suggest.clarify", suggestions, noneOfThese(data, question)));
    } else if (suggestions.length) {
      article.appendChild(chipGroup(data.answered ? "suggest.related" : "suggest.refused", suggestions));
    }
    if (data.answer_id && !NO_FEEDBACK[data.intent]) article.appendChild(feedbackRow(data));
    return article;
  }

  function showError(message) {
    return addMessage("bot error", "who.system", message);
  }

  function setBusy(value) {
    busy = value;
    log.setAttribute("aria-busy", value ? "true" : "false");
    sendButton.setAttribute("aria-disabled", value ? "true" : "false");
    statusLine.textContent = value ? t("chat.busy") : "";
  }

  // Scroll so that the whole message is visible between the top of the window and the composer (the
  // composer stays at the bottom of the window); a message taller than that space shows its start.
  function reveal(node) {
    if (!node || typeof node.getBoundingClientRect !== "function") return;
    var box = node.getBoundingClientRect();
    var bottom = (composer ? composer.getBoundingClientRect().top : window.innerHeight) - GAP;
    var delta = 0;
    if (box.height > bottom - GAP) delta = box.top - GAP;
    else if (box.bottom > bottom) delta = box.bottom - bottom;
    else if (box.top < GAP) delta = box.top - GAP;
    if (delta) window.scrollBy(0, delta);
  }

  // ------------------------------------------------------------------ asking
  function errorFor(response, body) {
    if (response.status === 429) {
      var wait = parseInt(response.headers.get("Retry-After") || "", 10);
      return t("error.rate", { wait: wait > 0 ? t("error.rate.seconds", { n: wait }) : t("error.rate.later") });
    }
    if (response.status === 413 || (body && body.limit)) {
      return t("error.long", { n: MAX_CHARS.toLocaleString() });
    }
    if (response.status >= 500) return t("error.server");
    return t("error.other", { n: response.status });
  }

  function forgetFailed(question) {
    // Sending a question again after an error: the earlier attempt is not shown twice.
    failed = failed.filter(function (entry) {
      if (entry[0] !== question) return true;
      entry.slice(1).forEach(function (node) { if (node && node.parentNode) node.parentNode.removeChild(node); });
      return false;
    });
  }

  function ask(text) {
    var question = (text || "").trim();
    if (!question || busy) return;
    if (question.length > MAX_CHARS) {
      reveal(showError(t("error.long", { n: MAX_CHARS.toLocaleString() })));
      return;
    }
    forgetFailed(question);
    var bubble = addMessage("user", "who.you", question);
    reveal(bubble);
    setBusy(true);
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;

    function failedWith(message) {
      bubble.classList.add("failed");
      bubble.appendChild(label("span", "failed-note", "failed"));
      var error = showError(message);
      failed.push([question, bubble, error]);
      reveal(error);
      if (!input.value) input.value = question; // nothing lost: ready to send again
    }

    fetch(ASK_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ q: question, session: sessionId(false) }),
      signal: controller ? controller.signal : undefined,
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        if (response.ok && body && typeof body === "object") {
          var answer = renderAnswer(body, question);
          setBusy(false);
          reveal(answer);
        } else {
          failedWith(errorFor(response, body));
        }
      });
    }).catch(function () {
      failedWith(t("error.network"));
    }).then(function () {
      if (timer) clearTimeout(timer);
      if (busy) setBusy(false);
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
    failed = [];
    sessionId(true);
    statusLine.textContent = t("chat.newDone");
    input.focus();
  });

  // ------------------------------------------------------------------ first suggestions
  function loadExamples() {
    fetch("/api/examples?n=4&lang=" + encodeURIComponent(i18n.lang()), { headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        var list = body && Array.isArray(body.examples) ? body.examples : [];
        var group = examples.querySelector(".chips");
        while (group.firstChild) group.removeChild(group.firstChild);
        list.forEach(function (q) {
          if (typeof q === "string" && q) group.appendChild(chip(q));
        });
        examples.hidden = !group.firstChild;
      })
      .catch(function () { /* the page works without examples */ });
  }

  i18n.onChange(loadExamples);
  loadExamples();
}());
