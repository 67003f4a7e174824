// Small glue between htmx and Bootstrap; no framework beyond the two.
(function () {
  // A toast shown while the tab is hidden waits until it is seen, then stays its time (5 s, or data-delay).
  function hideToastsLater(root) {
    root.querySelectorAll('.toast[data-autohide="true"]').forEach(function (el) {
      if (el.dataset.hiding) return;
      el.dataset.hiding = "1";
      var delay = Number(el.dataset.delay || 5000);
      function start() { setTimeout(function () { el.classList.remove("show"); el.remove(); }, delay); }
      if (!document.hidden) { start(); return; }
      document.addEventListener("visibilitychange", function seen() {
        if (document.hidden) return;
        document.removeEventListener("visibilitychange", seen);
        start();
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { hideToastsLater(document); });
  document.addEventListener("htmx:afterSwap", function (event) { hideToastsLater(event.target); });

  // A failed htmx request should never fail silently.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var text = status === 403 ? "You do not have permission to do that." :
               status === 404 ? "That item no longer exists." :
               "Something went wrong (" + status + "). Please try again.";
    showToast(text, "danger");
  });
  document.addEventListener("htmx:sendError", function () { showToast("The server could not be reached.", "danger"); });

  // showToast(text, kind, {href, linkText, delay}): with `href`, the toast ends in a link
  // ("Open") and stays 10 s unless `delay` says otherwise.
  function showToast(text, kind, options) {
    options = options || {};
    var box = document.getElementById("messages");
    if (!box) return;
    var toast = document.createElement("div");
    toast.className = "toast show align-items-center border-0 text-bg-" + kind;
    toast.setAttribute("role", "status");
    toast.dataset.autohide = "true";
    toast.dataset.delay = String(options.delay || (options.href ? 10000 : 5000));
    var row = document.createElement("div");
    row.className = "d-flex";
    var body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = text;
    if (options.href) {
      var link = document.createElement("a");
      link.className = "toast-link ms-2";
      link.href = options.href;
      link.textContent = options.linkText || "Open";
      body.appendChild(link);
    }
    row.appendChild(body);
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close btn-close-white me-2 m-auto";
    close.setAttribute("aria-label", "Close");
    close.addEventListener("click", function () { toast.remove(); });
    row.appendChild(close);
    toast.appendChild(row);
    box.appendChild(toast);
    hideToastsLater(box);
  }
  window.wanweb = { showToast: showToast };

  // The gallery's poller drops changed cards into a hidden inbox: each replaces its old card,
  // or goes to the top of the grid when it is new. One place decides, so no card is ever doubled.
  // A MutationObserver, not an htmx event: the poller that made the request has been swapped out
  // by then, and events fired on a detached element reach no listener.
  function drainInbox(inbox) {
    var grid = document.getElementById("gallery-grid");
    var cards = Array.prototype.slice.call(inbox.querySelectorAll(".job-card"));
    if (!cards.length) return;
    cards.reverse().forEach(function (card) {
      var old = grid && grid.querySelector("#" + CSS.escape(card.id));
      if (old) { old.replaceWith(card); } else if (grid) { grid.prepend(card); }
      if (window.htmx) { htmx.process(card); }
    });
    inbox.innerHTML = "";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var inbox = document.getElementById("gallery-inbox");
    if (!inbox) return;
    new MutationObserver(function () { drainInbox(inbox); }).observe(inbox, { childList: true });
  });

  // Videos play on hover (and on click or keyboard focus for touch and keyboard users).
  function isVideo(el) { return el && el.tagName === "VIDEO" && el.classList.contains("hover-play"); }
  document.addEventListener("mouseover", function (e) { if (isVideo(e.target)) e.target.play().catch(function () {}); });
  document.addEventListener("mouseout", function (e) { if (isVideo(e.target)) e.target.pause(); });
  document.addEventListener("click", function (e) {
    if (!isVideo(e.target) || e.target.closest("[data-lightbox]")) return; // the lightbox opens instead
    e.preventDefault();
    if (e.target.paused) { e.target.play().catch(function () {}); } else { e.target.pause(); }
  });

  // Ctrl/Cmd+Enter in the generation form: static/js/studio.js (it also guards against double submits).

  document.addEventListener("job-created", function (event) {
    if (event.detail && event.detail.repeated) {
      showToast("Already sent: this form made its job once.", "primary");
    } else {
      showToast("Job queued. It will update here live.", "success");
    }
  });

  // Project created over htmx: say so, and put the cursor back in the name field for the next one.
  document.addEventListener("project-created", function (event) {
    showToast("Project “" + event.detail.name + "” created.", "success");
  });
})();

// Team gallery and collection pages: select outputs (Shift-click selects a range), count them,
// and tidy up after a bulk action. The bar's visibility is pure CSS (:has), so it needs no JS.
(function () {
  var lastBox = null;

  function bulkForm() { return document.getElementById("bulk-form"); }
  function boxes() {
    var form = bulkForm();
    return form ? Array.prototype.slice.call(form.querySelectorAll("input.gallery-select")) : [];
  }
  function updateSelection() {
    var form = bulkForm();
    if (!form) return;
    var count = boxes().filter(function (box) { return box.checked; }).length;
    var max = parseInt(form.dataset.bulkMax || "500", 10);
    var label = document.getElementById("bulk-count");
    if (label) label.textContent = String(count);
    form.classList.toggle("too-many", count > max);
    form.querySelectorAll(".bulk-actions button[type=submit]").forEach(function (button) {
      button.disabled = count === 0 || count > max;
    });
  }

  document.addEventListener("click", function (e) {
    var box = e.target.closest && e.target.closest("input.gallery-select");
    if (box) {
      // The click has already toggled `box`; give every box between it and the last one its state.
      if (e.shiftKey && lastBox && lastBox !== box && document.contains(lastBox)) {
        var all = boxes();
        var a = all.indexOf(lastBox), b = all.indexOf(box);
        if (a >= 0 && b >= 0) {
          for (var i = Math.min(a, b); i <= Math.max(a, b); i++) { all[i].checked = box.checked; }
        }
      }
      lastBox = box;
      updateSelection();
      return;
    }
    var selector = e.target.closest && e.target.closest("[data-bulk-select]");
    if (selector) {
      var on = selector.dataset.bulkSelect === "all";
      boxes().forEach(function (b) { b.checked = on; });
      lastBox = null;
      updateSelection();
    }
  });
  document.addEventListener("change", function (e) {
    if (e.target.classList && e.target.classList.contains("gallery-select")) updateSelection();
  });
  // Shift-click on a checkbox must not also select the text of the cards in between.
  document.addEventListener("mousedown", function (e) {
    if (e.shiftKey && e.target.closest && e.target.closest(".output-select")) e.preventDefault();
  });

  // Enter in the bar's little menus runs that menu's action (not the form's first button).
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || !e.target.closest) return;
    var menu = e.target.closest(".bulk-menu");
    if (!menu || e.target.tagName === "BUTTON") return;
    e.preventDefault();
    var button = menu.querySelector("[data-bulk-submit]");
    if (button && !button.disabled) button.click();
  });

  document.addEventListener("bulk-done", function (event) {
    window.wanweb.showToast(event.detail.message, event.detail.level || "success");
    document.querySelectorAll(".bulk-menu").forEach(function (menu) {
      var toggle = menu.previousElementSibling;
      if (window.bootstrap && toggle) bootstrap.Dropdown.getOrCreateInstance(toggle).hide();
    });
    var input = document.getElementById("bulk-new-collection");
    if (input) input.value = "";
  });
  document.addEventListener("collection-created", function (event) {
    window.wanweb.showToast("Collection “" + event.detail.name + "” created.", "success");
  });
  document.addEventListener("htmx:afterSettle", updateSelection);
  document.addEventListener("DOMContentLoaded", updateSelection);
})();

// Behaviour that used to live in inline handlers (onclick=, onsubmit=), which the
// Content-Security-Policy forbids: declared with data- attributes, wired here by delegation,
// so it also works on fragments htmx swaps in later. Add new behaviour the same way.
(function () {
  // <input data-select-on-click>: a click selects the whole value (share and invite links).
  document.addEventListener("click", function (e) {
    var input = e.target.closest && e.target.closest("input[data-select-on-click]");
    if (input) input.select();
  });

  // <button data-copy-from="#selector">: copy that field's value, then say so on the button.
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("[data-copy-from]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copyFrom);
    if (!source) return;
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(source.value).then(done, function () { source.select(); });
    } else {
      source.select();
    }
  });

  // <form data-confirm="Question?">: ask before a plain (non-htmx) submit; htmx forms use hx-confirm.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
  });
})();
