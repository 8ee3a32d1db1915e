// DIGI+ 小幫手 — the officials' page: the report's budget and headline indicator tables and their charts,
// with the figures, notes and sources /stats and /chart give (from /api/stats/budget, /api/stats/indicators
// and /api/stats/chart/…). Each table and chart is a section with its own link. DOM APIs only.
"use strict";

(function () {
  var i18n = window.DigibotI18n;
  var t = i18n.t;
  var root = document.getElementById("tables");
  var toc = document.getElementById("toc");
  var data = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function english() { return i18n.lang() === "en"; }

  function named(zh, en) { return english() && en ? en + " (" + zh + ")" : zh; }

  function bare(text, unit) {
    text = String(text || "");
    return unit && text.slice(-unit.length) === unit ? text.slice(0, -unit.length) : text;
  }

  function number(value) {
    return Number(value).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  }

  // A section: a heading with a link to itself, listed in the page's table of contents.
  function section(id, level, title) {
    var block = el("section", "report-section");
    block.id = id;
    block.setAttribute("aria-labelledby", id + "-heading");
    var heading = el(level, null, title);
    heading.id = id + "-heading";
    var link = el("a", "section-link", "#");
    link.href = "#" + id;
    link.setAttribute("aria-label", t("stats.link") + "：" + title);
    heading.appendChild(link);
    block.appendChild(heading);
    var item = el("li");
    var tocLink = el("a", null, title);
    tocLink.href = "#" + id;
    item.appendChild(tocLink);
    toc.appendChild(item);
    return block;
  }

  function cell(tag, text, className, scope) {
    var node = el(tag, className, text);
    if (scope) node.setAttribute("scope", scope);
    return node;
  }

  function table(caption, head, rows, numericFrom) {
    var wrap = el("div", "table-scroll");
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", caption);
    wrap.tabIndex = 0; // a table wider than a phone scrolls by keyboard too
    var grid = el("table", "report");
    grid.appendChild(el("caption", null, caption));
    var thead = el("thead");
    var tr = el("tr");
    head.forEach(function (text, i) { tr.appendChild(cell("th", text, i >= numericFrom ? "num" : null, "col")); });
    thead.appendChild(tr);
    grid.appendChild(thead);
    var tbody = el("tbody");
    rows.forEach(function (row) {
      var line = el("tr", row.className || null);
      row.cells.forEach(function (text, i) {
        line.appendChild(i === 0 ? cell("th", text, null, "row") : cell("td", text, i >= numericFrom ? "num" : null));
      });
      tbody.appendChild(line);
    });
    grid.appendChild(tbody);
    wrap.appendChild(grid);
    return wrap;
  }

  function notes(list, prefix) {
    var ul = el("ul", "notes");
    list.forEach(function (text) { ul.appendChild(el("li", null, (prefix || "") + text)); });
    return ul;
  }

  function source(src) {
    return el("p", "source-note", t("stats.source", { section: src.section, title: src.title }));
  }

  function download(href) {
    var p = el("p", "source-note");
    var a = el("a", null, t("stats.csv"));
    a.href = href;
    p.appendChild(a);
    return p;
  }

  function chart(src, alt, caption) {
    var figure = el("figure", "chart");
    var img = el("img");
    img.src = src;
    img.alt = alt;
    img.loading = "lazy";
    img.width = 1152;
    img.height = 720;
    figure.appendChild(img);
    figure.appendChild(el("figcaption", null, caption));
    return figure;
  }

  function budgetSection(budget) {
    var years = budget.years;
    var span = years[0] + "–" + years[years.length - 1];
    var block = section("budget", "h2", t("stats.budget"));
    var rows = budget.axes.map(function (a) {
      return { cells: [a.axis + " " + named(a.name, a.name_en)].concat(years.map(function (y) {
        return bare(a.values[String(y)] || a.note || "N/A", budget.unit);
      })) };
    });
    rows.push({ className: "total", cells: [t("stats.stated")].concat(years.map(function (y) {
      return bare(budget.totals[String(y)], budget.unit);
    })) });
    var checks = {};
    budget.total_checks.forEach(function (c) { checks[c.year] = c; });
    rows.push({ className: "total", cells: [t("stats.computed")].concat(years.map(function (y) {
      return number(checks[y].axes_sum_computed) + (checks[y].discrepancy ? " ⚠" : "");
    })) });
    block.appendChild(table(t("stats.budget.caption", { span: span }), [t("stats.axis")].concat(years.map(String)),
                            rows, 1));
    block.appendChild(el("p", "source-note", t("stats.computedNote")));
    if (budget.table_notes && budget.table_notes.length) block.appendChild(notes(budget.table_notes));
    block.appendChild(source(budget.source));
    block.appendChild(download("/api/stats/budget?format=csv"));
    root.appendChild(block);

    var figure = section("budget-chart", "h3", t("stats.budget.chart"));
    figure.appendChild(chart("/api/stats/chart/budget.png", t("chart.alt.budget", { span: span }),
                             t("stats.source", { section: budget.source.section, title: budget.source.title })));
    root.appendChild(figure);
  }

  function indicatorSection(indicators) {
    var years = indicators.years;
    var block = section("indicators", "h2", t("stats.indicators"));
    var rows = indicators.indicators.map(function (row) {
      return { cells: [named(row.name, row.name_en), english() && row.unit_en ? row.unit_en : row.unit].concat(
        years.map(function (y) {
          var value = row.values[String(y)];
          if (value === undefined) return "—";
          return bare(value, row.unit) + (row.estimates.indexOf(y) >= 0 ? "＊" : "");
        })) };
    });
    block.appendChild(table(indicators.source.title, [t("stats.indicator"), t("stats.unit")].concat(years.map(String)),
                            rows, 2));
    block.appendChild(el("p", "source-note", t("stats.estimate")));
    if (indicators.table_notes && indicators.table_notes.length) block.appendChild(notes(indicators.table_notes));
    block.appendChild(source(indicators.source));
    block.appendChild(download("/api/stats/indicators?format=csv"));
    root.appendChild(block);

    indicators.indicators.forEach(function (row) {
      var title = named(row.name, row.name_en);
      var part = section("indicator-" + row.key, "h3", t("stats.chart", { name: title }));
      if (row.unit === "名") part.appendChild(el("p", "source-note", t("stats.rank")));
      if (row.definition) {
        part.appendChild(el("p", "source-note", t("stats.definition") + row.definition +
                            (row.definition_section ? "（" + row.definition_section + "）" : "")));
      }
      part.appendChild(chart("/api/stats/chart/indicator/" + encodeURIComponent(row.key) + ".png",
                             t("chart.alt.indicator", { name: title }),
                             t("stats.source", { section: indicators.source.section, title: indicators.source.title })));
      root.appendChild(part);
    });
  }

  function render() {
    while (root.firstChild) root.removeChild(root.firstChild);
    while (toc.firstChild) toc.removeChild(toc.firstChild);
    budgetSection(data.budget);
    indicatorSection(data.indicators);
    if (window.location.hash) {
      var target = document.getElementById(window.location.hash.slice(1));
      if (target) target.scrollIntoView();
    }
  }

  function json(url) {
    return fetch(url, { headers: { "Accept": "application/json" } }).then(function (response) {
      if (!response.ok) throw new Error(url + " " + response.status);
      return response.json();
    });
  }

  Promise.all([json("/api/stats/budget"), json("/api/stats/indicators")]).then(function (found) {
    data = { budget: found[0], indicators: found[1] };
    render();
    root.setAttribute("data-ready", "true");
  }).catch(function () {
    while (root.firstChild) root.removeChild(root.firstChild);
    root.appendChild(el("p", "status", t("stats.failed")));
  });
  i18n.onChange(function () { if (data) render(); });
}());
