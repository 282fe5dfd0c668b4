/* wfobj UI live refresh (ours, no library). While <body data-live="true">, fetch the page
   again every few seconds and, for each [data-live-part] element whose content changed,
   put the new content in it (the element itself stays, so an aria-live region keeps
   announcing); focus stays on the same link and a log scrolled to its end stays at its end.
   When the page stops being live, update the parts and then whatever else changed in <main>
   once, and stop. Nothing runs on a page that is not live. */
(function () {
  "use strict";
  var PERIOD = 3000;
  if (document.body.dataset.live !== "true") return;

  function atEnd(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 4; }

  /* where the focused element is inside `box` (a selector and which match it is), so the
     same place can be found in the new content: by id, else by href */
  function locator(box, el) {
    var sel = el.id ? "#" + CSS.escape(el.id)
      : el.getAttribute("href") ? "a[href=\"" + CSS.escape(el.getAttribute("href")) + "\"]" : null;
    return sel && { sel: sel, index: Array.prototype.indexOf.call(box.querySelectorAll(sel), el) };
  }

  function swap(oldEl, newEl) {
    if (oldEl.innerHTML === newEl.innerHTML) return;  // unchanged: leave focus and selection
    var logs = {};
    oldEl.querySelectorAll("pre.log[id]").forEach(function (p) { logs[p.id] = atEnd(p); });
    var active = document.activeElement;
    var again = active && active !== oldEl && oldEl.contains(active) ? locator(oldEl, active) : null;
    oldEl.replaceChildren.apply(oldEl, Array.prototype.map.call(newEl.childNodes, function (n) {
      return document.importNode(n, true);  // a copy: the fetched page stays whole
    }));
    oldEl.querySelectorAll("pre.log[id]").forEach(function (p) {
      if (logs[p.id] !== false) p.scrollTop = p.scrollHeight;
    });
    var target = again && oldEl.querySelectorAll(again.sel)[again.index];
    if (target) target.focus({ preventScroll: true });
  }

  function apply(doc) {
    document.querySelectorAll("[data-live-part][id]").forEach(function (el) {
      var fresh = doc.getElementById(el.id);
      if (fresh) swap(el, fresh);
    });
    if (doc.body.dataset.live === "true") return true;
    var main = doc.getElementById("main");  // what changed outside the parts (if anything)
    if (main) swap(document.getElementById("main"), main);
    document.body.dataset.live = "false";
    document.querySelectorAll(".live-note").forEach(function (n) { n.textContent = "the run has ended"; });
    return false;
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
