// Live updates without a framework: every few seconds, fetch this very page again and
// swap in the parts marked data-live (matched by id). Paused while the tab is hidden.
(function () {
  "use strict";
  var seconds = parseFloat(document.body.dataset.refresh || "0");
  if (!(seconds > 0)) { return; }
  function refresh() {
    if (document.hidden) { return; }
    fetch(window.location.href, { headers: { "X-Live": "1" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text === null) { return; }
        var fresh = new DOMParser().parseFromString(text, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (old) {
          var replacement = fresh.getElementById(old.id);
          if (replacement) { old.replaceWith(document.importNode(replacement, true)); }
        });
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, seconds * 1000);
})();
