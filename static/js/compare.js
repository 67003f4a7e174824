// The compare page: play a row's videos in sync. CSP-ready: no inline code, listeners only.
(function () {
  "use strict";

  function ready(video) {
    return new Promise(function (resolve) {
      if (video.readyState >= 3) return resolve();
      var done = function () { video.removeEventListener("canplay", done); resolve(); };
      video.addEventListener("canplay", done);
      if (video.preload === "none") video.preload = "auto";
      video.load();
    });
  }

  // One click starts every video of the row from the start, together, once all can play.
  function playRow(button) {
    var row = document.querySelector('.run-row[data-row="' + button.dataset.row + '"]');
    if (!row) return;
    var videos = Array.prototype.slice.call(row.querySelectorAll("video.run-video"));
    if (!videos.length) return;
    var playing = videos.some(function (v) { return !v.paused; });
    if (playing) {
      videos.forEach(function (v) { v.pause(); });
      button.setAttribute("aria-pressed", "false");
      return;
    }
    videos.forEach(function (v) { v.pause(); v.currentTime = 0; });
    Promise.all(videos.map(ready)).then(function () {
      videos.forEach(function (v) { v.currentTime = 0; });
      videos.forEach(function (v) { var p = v.play(); if (p && p.catch) p.catch(function () {}); });
      button.setAttribute("aria-pressed", "true");
      row.dataset.synced = String(Date.now());
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".run-play-row");
    if (button) {
      event.preventDefault();
      playRow(button);
    }
  });

  // Once every cell is done the poller asks every few seconds only for teammates' votes and
  // winner picks: a hidden tab does not ask, and asks once when it is shown again.
  function idlePoller(el) { return !!el && el.id === "run-poller" && el.dataset.polling === "false"; }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (idlePoller(event.detail.elt) && document.hidden) event.preventDefault();
  });
  document.addEventListener("visibilitychange", function () {
    var poller = document.getElementById("run-poller");
    if (!document.hidden && idlePoller(poller) && window.htmx) htmx.trigger(poller, "wanweb:check");
  });
})();
