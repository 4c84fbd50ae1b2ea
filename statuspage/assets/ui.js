// logq status page: live refresh and the replay slider. Plain JavaScript,
// no build step. The page is complete without it (server-rendered, with a
// <noscript> meta refresh); this keeps it current without reloading: every
// few seconds it fetches the same URL and swaps in the new #content.
(function () {
  "use strict";
  var body = document.body;
  var live = body.dataset.live === "true";
  var every = parseInt(body.dataset.refreshMs, 10) || 2000;
  var status = document.getElementById("refresh-status");
  var pause = document.getElementById("pause");
  var number = document.getElementById("at");
  var range = document.getElementById("at-range");
  var refreshes = 0, timer = null, paused = false, inflight = false;

  // The slider and the number box show the same seq; while live, both
  // follow the applied seq unless the user is choosing one.
  var choosing = false;
  if (range && number) {
    range.addEventListener("input", function () { choosing = true; number.value = range.value; });
    range.addEventListener("change", function () { document.getElementById("replay-form").submit(); });
    number.addEventListener("input", function () { choosing = true; range.value = number.value; });
  }

  function setStatus(text, cls) {
    if (!status) return;
    status.textContent = text;
    status.className = cls;
  }

  function schedule() {
    clearTimeout(timer);
    if (live && !paused) timer = setTimeout(refresh, every);
  }

  function refresh() {
    if (inflight) return;
    inflight = true;
    fetch(window.location.href, { cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (resp) { return resp.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("content");
        var cur = document.getElementById("content");
        if (!next || !cur) throw new Error("no content in the answer");
        cur.replaceWith(document.importNode(next, true));
        var applied = next.getAttribute("data-applied-seq");
        if (range && number && applied !== null) {
          range.max = applied; number.max = applied;
          if (!choosing) { range.value = applied; number.value = applied; }
        }
        refreshes++;
        body.dataset.refreshes = String(refreshes);
        setStatus("live · updated " + new Date().toLocaleTimeString(), "ok");
      })
      .catch(function () {
        setStatus("live · manager unreachable, retrying", "bad");
      })
      .finally(function () { inflight = false; schedule(); });
  }

  if (pause) {
    pause.addEventListener("click", function () {
      paused = !paused;
      pause.textContent = paused ? "Resume" : "Pause";
      if (paused) { clearTimeout(timer); setStatus("paused", "paused"); } else { refresh(); }
    });
  }
  body.dataset.js = "ready";
  schedule();
})();
