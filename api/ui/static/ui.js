/* wfobj UI live refresh (ours, no library). While <body data-live="true">, fetch the page
   again every few seconds and swap each [data-live-part] element by id; a log that was
   scrolled to its end stays at its end. When the page stops being live, swap <main> whole
   once and stop. Nothing runs on a page that is not live. */
(function () {
  "use strict";
  var PERIOD = 3000;
  if (document.body.dataset.live !== "true") return;

  function atEnd(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 4; }

  function swap(oldEl, newEl) {
    var logs = {};
    oldEl.querySelectorAll("pre.log[id]").forEach(function (p) { logs[p.id] = atEnd(p); });
    oldEl.replaceWith(newEl);
    newEl.querySelectorAll("pre.log[id]").forEach(function (p) {
      if (logs[p.id] !== false) p.scrollTop = p.scrollHeight;
    });
  }

  function apply(doc) {
    if (doc.body.dataset.live !== "true") {
      var main = doc.getElementById("main");
      if (main) swap(document.getElementById("main"), main);
      document.body.dataset.live = "false";
      document.querySelectorAll(".live-note").forEach(function (n) { n.textContent = "the run has ended"; });
      return false;
    }
    document.querySelectorAll("[data-live-part][id]").forEach(function (el) {
      var fresh = doc.getElementById(el.id);
      if (fresh) swap(el, fresh);
    });
    return true;
  }

  function tick() {
    if (document.hidden) { setTimeout(tick, PERIOD); return; }
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected) { location.reload(); throw new Error("session ended"); }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        if (apply(new DOMParser().parseFromString(html, "text/html"))) setTimeout(tick, PERIOD);
      })
      .catch(function () { setTimeout(tick, PERIOD * 3); });
  }
  setTimeout(tick, PERIOD);
})();
