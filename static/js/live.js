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
})();
