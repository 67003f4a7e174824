// The output viewer: a modal <dialog> (templates/generations/_lightbox.html) opened from any
// [data-lightbox] tile. Left/right walk the tiles of the same grid (live-added and "load more" cards
// included), Space plays/pauses a video, Esc closes and focus goes back to the tile. Without JS a
// tile is a plain link to its file.
(function () {
  "use strict";
  var dialog = null, items = [], index = 0, opener = null, starred = null;

  function part(name) { return dialog.querySelector('[data-lb="' + name + '"]'); }
  function media() { return part("stage").querySelector("video, img"); }

  // Stars the user gave, for pages whose cards are shared by everyone (.favourite-ids lists them).
  function starredSet() {
    if (starred === null) {
      starred = new Set();
      document.querySelectorAll(".favourite-ids").forEach(function (el) {
        (el.dataset.ids || "").split(" ").forEach(function (id) { if (id) starred.add(id); });
      });
    }
    return starred;
  }
  function isStarred(tile) {
    if (tile.dataset.favourite) return tile.dataset.favourite === "true";
    return starredSet().has(tile.dataset.asset);
  }

  function useAsInputUrl(tile) {
    if (tile.dataset.useAsInputUrl) return tile.dataset.useAsInputUrl;
    var card = tile.closest("[data-use-as-input-url]");
    return card ? card.dataset.useAsInputUrl : "";
  }

  function showStar(on) {
    var button = part("favourite");
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.querySelector("i").className = "bi bi-star" + (on ? "-fill" : "");
    button.title = on ? "Remove from your favourites" : "Add to your favourites";
  }
  function showPlaying(video) {
    var button = part("play");
    var playing = !!video && !video.paused;
    button.setAttribute("aria-pressed", playing ? "true" : "false");
    button.querySelector("i").className = "bi bi-" + (playing ? "pause-fill" : "play-fill");
    button.querySelector(".lb-label").textContent = playing ? "Pause" : "Play";
  }

  function show(position) {
    index = (position + items.length) % items.length;
    var tile = items[index], data = tile.dataset, stage = part("stage");
    var old = media();
    if (old && old.tagName === "VIDEO") { old.pause(); }
    stage.textContent = "";
    var el;
    if (data.kind === "video") {
      el = document.createElement("video");
      el.controls = true;
      el.playsInline = true;
      el.loop = true;
      el.preload = "metadata";
      if (data.poster) el.poster = data.poster;
      el.addEventListener("play", function () { showPlaying(el); });
      el.addEventListener("pause", function () { showPlaying(el); });
    } else {
      el = document.createElement("img");
      el.alt = data.caption || "Output";
    }
    if (data.width && data.height) { el.width = Number(data.width); el.height = Number(data.height); }
    el.src = data.src;
    stage.appendChild(el);

    part("position").textContent = String(index + 1);
    part("count").textContent = String(items.length);
    part("caption").textContent = data.caption || "";
    part("download").href = data.src + "?download=1";
    part("job").href = data.jobUrl || "#";
    part("job").hidden = !data.jobUrl;
    var use = dialog.dataset.canGenerate === "true" ? useAsInputUrl(tile) : "";
    part("use").hidden = !use;
    part("use").href = use || "#";
    part("play").hidden = data.kind !== "video";
    part("favourite").hidden = !data.asset;
    part("prev").hidden = part("next").hidden = items.length < 2;
    showStar(isStarred(tile));
    showPlaying(el.tagName === "VIDEO" ? el : null);
  }

  function open(tile) {
    var grid = tile.closest(".gallery-grid") || document;
    items = Array.prototype.slice.call(grid.querySelectorAll("[data-lightbox]"));
    opener = tile;
    starred = null; // re-read: "load more" may have brought more
    show(Math.max(0, items.indexOf(tile)));
    dialog.showModal();
    part("stage").focus();
  }

  function close() { if (dialog.open) dialog.close(); }

  function togglePlay() {
    var video = media();
    if (!video || video.tagName !== "VIDEO") return;
    if (video.paused) { video.play().catch(function () {}); } else { video.pause(); }
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || ""; }
    catch (e) { return ""; }
  }

  function toggleFavourite() {
    var tile = items[index];
    var id = tile && tile.dataset.asset;
    if (!id) return;
    var url = dialog.dataset.favouriteUrl.replace("00000000-0000-0000-0000-000000000000", id);
    fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var on = /aria-pressed="true"/.test(html);
        tile.dataset.favourite = on ? "true" : "false";
        if (on) { starredSet().add(id); } else { starredSet().delete(id); }
        if (items[index] === tile) showStar(on);
        // The team gallery's card has its own star: swap in the server's version of it.
        var cardStar = document.getElementById("star-" + id);
        if (cardStar) {
          var holder = document.createElement("div");
          holder.innerHTML = html.trim();
          var fresh = holder.firstElementChild;
          if (fresh) { cardStar.replaceWith(fresh); if (window.htmx) htmx.process(fresh); }
        }
      })
      .catch(function () {
        if (window.wanweb) window.wanweb.showToast("The favourite could not be saved. Please try again.", "danger");
      });
  }

  function focusables() {
    return Array.prototype.slice.call(
      dialog.querySelectorAll("button, a[href], video[controls], [tabindex]:not([tabindex='-1'])")
    ).filter(function (el) { return !el.hidden && !el.disabled && el.getClientRects().length > 0; });
  }

  function onKeydown(event) {
    var target = event.target;
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      if (items.length < 2) return;
      event.preventDefault();
      show(index + (event.key === "ArrowRight" ? 1 : -1));
      part("stage").focus();
    } else if (event.key === " " || event.key === "Spacebar") {
      // Buttons and links keep Space for themselves; a focused <video> handles it natively.
      if (target.closest("button, a, video")) return;
      event.preventDefault();
      togglePlay();
    } else if (event.key === "Tab") {
      // The modal dialog already makes the page inert; this keeps Tab from leaving for the browser UI.
      var list = focusables();
      if (!list.length) return;
      var first = list[0], last = list[list.length - 1];
      if (event.shiftKey && (target === first || !dialog.contains(target) || target === part("stage"))) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && target === last) {
        event.preventDefault();
        first.focus();
      }
    }
  }

  function onClick(event) {
    var action = event.target.closest("[data-lb]");
    var name = action ? action.dataset.lb : "";
    if (event.target === dialog || name === "stage" && event.target === part("stage")) { close(); return; }
    if (name === "close") close();
    else if (name === "prev") show(index - 1);
    else if (name === "next") show(index + 1);
    else if (name === "play") togglePlay();
    else if (name === "favourite") toggleFavourite();
  }

  function onClose() {
    var video = media();
    if (video && video.tagName === "VIDEO") video.pause();
    part("stage").textContent = ""; // stop downloading a long video nobody watches
    var back = opener && document.contains(opener) ? opener : null;
    if (!back && opener && opener.id) back = document.getElementById(opener.id);
    if (back) back.focus();
    opener = null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    dialog = document.getElementById("lightbox");
    if (!dialog || typeof dialog.showModal !== "function") return;
    dialog.addEventListener("keydown", onKeydown);
    dialog.addEventListener("click", onClick);
    dialog.addEventListener("close", onClose);
    document.addEventListener("click", function (event) {
      if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
      var tile = event.target.closest && event.target.closest("[data-lightbox]");
      if (!tile || dialog.contains(tile)) return;
      event.preventDefault();
      open(tile);
    });
  });
})();
