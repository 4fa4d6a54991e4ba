// The township console: the resident ID number checked as typed (GB 11643), one submit per form.
"use strict";
(function () {
  var W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var CHECK = "10X98765432";
  var zh = document.documentElement.lang !== "en";
  function problem(v) {
    if (v === "") return null;
    if (!/^[0-9]{17}[0-9Xx]$/.test(v)) {
      return v.length < 18 && /^[0-9]*$/.test(v) ? null : (zh ? "格式不对：18 位，最后一位可为 X（format）" : "18 characters, the last may be X (format)");
    }
    var sum = 0;
    for (var i = 0; i < 17; i++) sum += W[i] * Number(v[i]);
    if (CHECK[sum % 11] !== v[17].toUpperCase()) return zh ? "身份证号校验位不对（checksum）" : "check digit is wrong (checksum)";
    return null;
  }
  document.querySelectorAll("input[data-check=resident-id]").forEach(function (input) {
    var out = input.parentElement.querySelector("[data-live=resident_id]");
    function check() {
      var served = input.parentElement.querySelector(".field-error[data-field=resident_id]");
      if (served) served.remove();
      var p = problem(input.value.trim());
      out.hidden = !p;
      out.textContent = p || "";
      out.dataset.code = p ? (p.indexOf("checksum") >= 0 ? "checksum" : "format") : "";
      input.setAttribute("aria-invalid", p ? "true" : "false");
    }
    input.addEventListener("input", check);
    // After a refused submit the server's error is shown already; check again once the clerk types.
    if (input.value && !input.parentElement.querySelector(".field-error[data-field=resident_id]")) check();
  });
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function () {
      var b = form.querySelector("button[data-once]");
      if (b) setTimeout(function () { b.disabled = true; }, 0);
    });
  });
})();
