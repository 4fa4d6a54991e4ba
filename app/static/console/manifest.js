// Bus manifest upload: parse on the server, issue in parts with a progress bar, fix refused rows in place.
"use strict";
(function () {
  var form = document.getElementById("manifest");
  var csrf = form.dataset.csrf, partRows = Number(form.dataset.part), en = form.dataset.lang === "en";
  var SHEET = Number(form.dataset.sheet);
  var M = window.HCERT_MESSAGES || {};
  var state = { file: "", columns: [], rows: [], issued: {}, refused: {} };
  function t(zh, e) { return en ? e : zh; }
  function say(code, message) { return en ? (message || code) + " (" + code + ")" : (M[code] || message || code) + "（" + code + "）"; }
  function post(url, body, type) {
    return fetch(url, { method: "POST", headers: { "Content-Type": type, "X-CSRF-Token": csrf }, body: body, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (j) { j.status = r.status; return j; }); });
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fail(j) {
    var f = document.getElementById("failure");
    f.hidden = false; f.dataset.code = j.code; f.textContent = say(j.code, j.detail);
  }
  function rowOf(line) { return document.querySelector("#rows tr[data-line='" + line + "']"); }
  function showIssued(i) {
    var tr = rowOf(i.line);
    tr.className = "ok-row"; tr.dataset.state = "issued";
    tr.cells[2].textContent = t("已签发 ", "issued ") + i.id;
  }
  function showRefused(line, errs) {
    var tr = rowOf(line), data = state.rows[line - 2];
    tr.className = "bad-row"; tr.dataset.state = "refused";
    var cell = tr.cells[2]; cell.textContent = "";
    var fields = {};
    errs.forEach(function (e) { fields[e.field] = fields[e.field] || []; fields[e.field].push(e); });
    Object.keys(fields).forEach(function (name) {
      var p = el("p", { class: "field-error", "data-field": name, "data-code": fields[name][0].code },
        (name || "") + " " + fields[name].map(function (e) { return say(e.code, e.message); }).join("；"));
      cell.appendChild(p);
      if (name && state.columns.indexOf(name) >= 0) {
        var input = el("input", { "data-fix": name, "aria-invalid": "true", maxlength: "64" });
        input.value = data[name] || "";
        input.addEventListener("input", function () { data[name] = input.value.trim(); if (!data[name]) delete data[name]; });
        cell.appendChild(input);
      }
    });
  }
  function update() {
    var done = Object.keys(state.issued).length, bad = Object.keys(state.refused).length, total = state.rows.length;
    var bar = document.getElementById("bar");
    bar.max = total; bar.value = done + bad;
    document.getElementById("count").textContent = (done + bad) + " / " + total;
    document.getElementById("summary").textContent = t("已签发 " + done + " 人，被拒 " + bad + " 人", done + " issued, " + bad + " refused");
    document.getElementById("download").hidden = !bad;
    document.getElementById("resubmit").hidden = !bad;
    var printLink = document.getElementById("print");
    document.querySelectorAll("a[data-more-sheet]").forEach(function (a) { a.remove(); });
    if (done && done + bad === total) {
      var ids = [];
      for (var line = 2; line < total + 2; line++) if (state.issued[line]) ids.push(state.issued[line]);
      // A sheet has at most SHEET certificates: a longer manifest prints as several sheets, in order.
      var sheets = Math.ceil(ids.length / SHEET);
      for (var n = 0; n < sheets; n++) {
        var q = new URLSearchParams({ ids: ids.slice(n * SHEET, (n + 1) * SHEET).join(","), plate: form.plate.value,
          route: form.route.value, date: form.date.value });
        var a = n === 0 ? printLink : printLink.cloneNode(true);
        a.href = "/console/sheet?" + q.toString();
        if (sheets > 1) a.textContent = printLink.dataset.label + " " + (n + 1) + "/" + sheets;
        if (n > 0) { a.removeAttribute("id"); a.setAttribute("data-more-sheet", String(n + 1)); printLink.parentNode.insertBefore(a, document.getElementById("download")); }
      }
      printLink.hidden = false;
    } else printLink.hidden = true;
  }
  function issue(lines) {
    var parts = [];
    for (var i = 0; i < lines.length; i += partRows) parts.push(lines.slice(i, i + partRows));
    return parts.reduce(function (chain, part) {
      return chain.then(function () {
        var body = { file: state.file, rows: part.map(function (line) { return { line: line, data: state.rows[line - 2] }; }) };
        return post("/console/manifest/issue", JSON.stringify(body), "application/json").then(function (j) {
          if (j.status >= 400 && !j.issued) { fail(j); throw new Error(j.code); }
          part.forEach(function (line) { delete state.refused[line]; });
          j.issued.forEach(function (i) { state.issued[i.line] = i.id; showIssued(i); });
          var byLine = {};
          j.errors.forEach(function (e) { (byLine[e.line] = byLine[e.line] || []).push(e); });
          Object.keys(byLine).forEach(function (line) { state.refused[line] = byLine[line]; showRefused(Number(line), byLine[line]); });
          update();
        });
      });
    }, Promise.resolve());
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = form.file.files[0];
    if (!file) return;
    document.getElementById("upload").disabled = true;
    document.getElementById("failure").hidden = true;
    file.arrayBuffer().then(function (buf) { return post("/console/manifest/parse", buf, "text/csv"); }).then(function (j) {
      if (j.status >= 400) { fail(j); document.getElementById("upload").disabled = false; return; }
      state = { file: j.file, rows: j.rows, issued: {}, refused: {}, columns: [] };
      j.rows.forEach(function (r) { Object.keys(r).forEach(function (k) { if (state.columns.indexOf(k) < 0) state.columns.push(k); }); });
      document.getElementById("progress-area").hidden = false;
      var enc = document.getElementById("encoding");
      enc.dataset.encoding = j.encoding;
      enc.textContent = t("文件编码：" + j.encoding + "，共 " + j.rows.length + " 行", "File encoding: " + j.encoding + ", " + j.rows.length + " rows");
      var tbody = document.querySelector("#rows tbody"); tbody.textContent = "";
      j.rows.forEach(function (r, i) {
        var tr = el("tr", { "data-line": String(i + 2), "data-state": "waiting" });
        tr.appendChild(el("td", {}, String(i + 2)));
        tr.appendChild(el("td", {}, r.name || ""));
        tr.appendChild(el("td", {}, t("等待", "waiting")));
        tbody.appendChild(tr);
      });
      update();
      return issue(j.rows.map(function (_, i) { return i + 2; }));
    }).catch(function () {}).then(function () { document.getElementById("upload").disabled = false; });
  });
  document.getElementById("resubmit").addEventListener("click", function () {
    var b = this; b.disabled = true;
    // Until the fixed rows are through, no sheet link: a click now would print the first pass only.
    document.getElementById("print").hidden = true;
    document.querySelectorAll("a[data-more-sheet]").forEach(function (a) { a.remove(); });
    issue(Object.keys(state.refused).map(Number).sort(function (a, c) { return a - c; }))
      .catch(function () {}).then(function () { b.disabled = false; });
  });
  document.getElementById("download").addEventListener("click", function () {
    function cell(v) { v = v == null ? "" : String(v); return /[",\r\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
    var lines = [state.columns.map(cell).join(",")];
    Object.keys(state.refused).map(Number).sort(function (a, c) { return a - c; }).forEach(function (line) {
      var r = state.rows[line - 2];
      lines.push(state.columns.map(function (c) { return cell(r[c]); }).join(","));
    });
    var blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
    var a = el("a", { href: URL.createObjectURL(blob), download: "refused-rows.csv" });
    document.body.appendChild(a); a.click(); a.remove();
  });
})();
