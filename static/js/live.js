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
        // Seconds before the usual time are "almost done"; only past it is the job slow.
        eta.textContent = left >= 5 ? "about " + roughly(left) + " left"
          : left > 0 ? "almost done" : "taking longer than usual (" + roughly(typical) + ")";
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
    resetTitle();
    var poller = document.getElementById("gallery-poller");
    if (isIdlePoller(poller) && Date.now() - lastCheck >= IDLE_EVERY - 250 && window.htmx) {
      htmx.trigger(poller, "wanweb:check");
    }
  });

  // -- Finished jobs: the tab title, a toast with a link, an opt-in notification -------------
  // The grid's cards are replaced in place by the poller; a card that was queued/running and
  // comes back succeeded or failed is news. Cards seen for the first time (load more, a job that
  // started and ended between two checks) are not: nobody was waiting for them.
  var ACTIVE = { queued: true, submitted: true, running: true };
  var ANNOUNCED = { succeeded: true, failed: true };
  var LONG_JOB = 30; // seconds: only jobs this long are worth a system notification
  var NOTIFY_KEY = "wanweb.notify";
  var baseTitle = document.title;
  var unseen = 0;
  var statuses = {};

  function resetTitle() {
    unseen = 0;
    document.title = baseTitle;
  }

  function cardFacts(card) {
    var link = card.querySelector(".prompt a");
    return {
      prompt: link ? link.textContent.trim() : "A job",
      url: link ? link.getAttribute("href") : "",
      seconds: Number(card.dataset.finished || 0) - Number(card.dataset.created || 0),
    };
  }

  function notifyOn() {
    try { return window.localStorage.getItem(NOTIFY_KEY) === "on"; } catch (e) { return false; }
  }

  function announce(card) {
    var facts = cardFacts(card);
    var ok = card.dataset.status === "succeeded";
    if (window.wanweb) {
      window.wanweb.showToast((ok ? "Done: " : "Failed: ") + facts.prompt, ok ? "success" : "danger", { href: facts.url, linkText: "Open" });
    }
    if (document.hidden) {
      unseen += 1;
      document.title = "(" + unseen + ") " + baseTitle;
    }
    var away = document.hidden || !document.hasFocus();
    if (away && notifyOn() && facts.seconds > LONG_JOB && "Notification" in window && Notification.permission === "granted") {
      var note = new Notification(ok ? "Your job is done" : "Your job failed", { body: facts.prompt, tag: card.id });
      note.onclick = function () { window.focus(); if (facts.url) window.location.href = facts.url; };
    }
  }

  function watch(card) {
    var before = statuses[card.id];
    var now = card.dataset.status;
    statuses[card.id] = now;
    if (before && ACTIVE[before] && ANNOUNCED[now]) announce(card);
  }

  function setUpNotifyToggle() {
    var bar = document.getElementById("gallery-toolbar");
    var toggle = document.getElementById("notify-toggle");
    if (!bar || !toggle || !("Notification" in window)) return;
    bar.hidden = false;
    function show() {
      var on = notifyOn() && Notification.permission === "granted";
      toggle.setAttribute("aria-pressed", on ? "true" : "false");
      toggle.querySelector("i").className = "bi bi-bell" + (on ? "-fill" : "");
    }
    function set(on) {
      try { window.localStorage.setItem(NOTIFY_KEY, on ? "on" : "off"); } catch (e) { /* private mode */ }
      show();
    }
    toggle.addEventListener("click", function () {
      if (toggle.getAttribute("aria-pressed") === "true") { set(false); return; }
      if (Notification.permission === "granted") { set(true); return; }
      if (Notification.permission === "denied") {
        if (window.wanweb) window.wanweb.showToast("Notifications are blocked for this site in your browser's settings.", "warning");
        return;
      }
      // Asked here, on the user's click, never on page load.
      Promise.resolve(Notification.requestPermission()).then(function (answer) { set(answer === "granted"); });
    });
    show();
  }

  document.addEventListener("DOMContentLoaded", function () {
    baseTitle = document.title;
    var grid = document.getElementById("gallery-grid");
    if (!grid) return;
    grid.querySelectorAll(".job-card").forEach(function (card) { statuses[card.id] = card.dataset.status; });
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        record.addedNodes.forEach(function (node) {
          if (node.nodeType !== 1) return;
          if (node.classList.contains("job-card")) { watch(node); return; }
          node.querySelectorAll && node.querySelectorAll(".job-card").forEach(watch);
        });
      });
    }).observe(grid, { childList: true });
    setUpNotifyToggle();
  });
})();
