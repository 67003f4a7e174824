// The live gallery: clocks on active jobs, the idle check, finished-job news (title, toast,
// notification). CSP-ready: no inline code, listeners only.
(function () {
  "use strict";

  // -- Clocks: elapsed time and ETA on queued/running cards and the job page --------------------
  function clockText(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }
  function roughly(seconds) {
    if (seconds < 60) return Math.max(5, Math.round(seconds / 5) * 5) + " s";
    if (seconds < 3600) return Math.round(seconds / 60) + " min";
    return Math.round(seconds / 3600) + " h";
  }
  function tickClocks() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".job-clock[data-since]").forEach(function (clock) {
      var elapsed = now - Number(clock.dataset.since);
      var label = clock.querySelector(".job-elapsed");
      if (label) label.textContent = clockText(elapsed) + " elapsed";
      var eta = clock.querySelector(".job-eta");
      var typical = Number(clock.dataset.typical || 0);
      if (eta && typical) {
        var left = typical - elapsed;
        eta.textContent = left >= 5 ? "about " + roughly(left) + " left" : "longer than usual (" + roughly(typical) + ")";
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tickClocks();
    setInterval(tickClocks, 1000);
  });
  document.addEventListener("htmx:afterSettle", tickClocks);

  // -- The idle check -----------------------------------------------------------------------
  // While nothing runs, #gallery-poller asks every 15 s whether anything changed (204 when not),
  // so jobs started by teammates, the CLI or another tab appear. A hidden tab does not ask; when it
  // is shown again it asks at once if a check is due. Never two idle checks within 15 s.
  var IDLE_EVERY = 15000;
  var lastCheck = Date.now(); // loading the page was a look
  function isIdlePoller(el) { return !!el && el.id === "gallery-poller" && el.dataset.polling === "false"; }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var el = event.detail.elt;
    if (!el || el.id !== "gallery-poller") return;
    if (isIdlePoller(el) && (document.hidden || Date.now() - lastCheck < IDLE_EVERY - 250)) {
      event.preventDefault();
      return;
    }
    lastCheck = Date.now();
  });
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) return;
    var poller = document.getElementById("gallery-poller");
    if (isIdlePoller(poller) && Date.now() - lastCheck >= IDLE_EVERY - 250 && window.htmx) {
      htmx.trigger(poller, "wanweb:check");
    }
  });
})();
