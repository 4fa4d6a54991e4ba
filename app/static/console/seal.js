// The office's seal: send the chosen PNG as it is; the server checks it (type, size, dimensions) and says why not.
"use strict";
(function () {
  var form = document.getElementById("seal-form");
  var en = form.dataset.lang === "en", M = window.HCERT_MESSAGES || {};
  function say(code, message) { return en ? (message || code) + " (" + code + ")" : (M[code] || message || code) + "（" + code + "）"; }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = form.file.files[0], failure = document.getElementById("failure"), button = document.getElementById("seal-upload");
    if (!file) return;
    button.disabled = true; failure.hidden = true;
    file.arrayBuffer().then(function (buf) {
      return fetch("/console/seal", { method: "POST", credentials: "same-origin", body: buf,
        headers: { "Content-Type": "image/png", "X-CSRF-Token": form.dataset.csrf } });
    }).then(function (r) { return r.json().then(function (j) { j.status = r.status; return j; }); }).then(function (j) {
      if (j.status === 201) { window.location.assign("/console/seal?saved=1"); return; }
      failure.hidden = false; failure.dataset.code = j.code; failure.textContent = say(j.code, j.detail);
      button.disabled = false;
    }).catch(function () { button.disabled = false; });
  });
})();
