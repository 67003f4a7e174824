// The studio's generation form (project page) and the job page's reuse buttons.
// No inline handlers anywhere: every listener is delegated from the document, so forms that
// htmx swaps in work without being wired up again.
(function () {
  "use strict";

  // A second Ctrl+Enter this soon after the first press or its answer is the same intent twice
  // (a double tap, a bouncing key). The button has no such delay: only the in-flight guard.
  var SUBMIT_GAP_MS = 1000;
  var inFlight = false;
  var lastPress = 0;
  var lastAnswer = 0;
  var uploading = 0;
  var replaceTarget = null;

  function theForm() { return document.getElementById("generation-form"); }
  function toast(text, kind) { if (window.wanweb) window.wanweb.showToast(text, kind || "danger"); }
  function csrf(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  // htmx re-fires a request's late events on a live ancestor when the swap removed the element
  // that asked: the asking element and the verb are in requestConfig (confirm has them directly).
  function requestOf(detail) {
    var config = (detail && detail.requestConfig) || detail || {};
    return { elt: config.elt || (detail && detail.elt), verb: config.verb, target: config.target || (detail && detail.target) };
  }
  function isFormPost(detail) {
    var request = requestOf(detail);
    return !!request.elt && request.elt.id === "generation-form" && request.verb === "post";
  }
  function poke(form) {
    // Tell htmx listeners (the live estimate) that the form changed.
    if (form) form.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // ---- one submit, one job -------------------------------------------------------------
  document.addEventListener("htmx:confirm", function (e) {
    if (!isFormPost(e.detail)) return;
    if (inFlight) { e.preventDefault(); return; }
    if (uploading > 0) { e.preventDefault(); toast("Wait for the upload to finish, then generate.", "warning"); }
  });
  document.addEventListener("htmx:beforeRequest", function (e) { if (isFormPost(e.detail)) inFlight = true; });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (!isFormPost(e.detail)) return;
    inFlight = false;
    lastAnswer = Date.now();
  });
  document.addEventListener("keydown", function (e) {
    if (!((e.ctrlKey || e.metaKey) && e.key === "Enter")) return;
    var form = theForm();
    if (!form || !form.contains(e.target)) return;
    e.preventDefault();
    var now = Date.now();
    if (e.repeat || inFlight || now - lastPress < SUBMIT_GAP_MS || now - lastAnswer < SUBMIT_GAP_MS) return;
    lastPress = now;
    form.requestSubmit();
  });

  // ---- a refused submit: bring the first problem into view, focus it, say so --------------
  function announceRefusal(form) {
    var message = form.getAttribute("data-refused");
    if (!message) return;
    form.removeAttribute("data-refused");
    var target = form.querySelector(".form-refusal") ||
      form.querySelector("#generation-fields .is-invalid, #generation-fields [aria-invalid=true]") ||
      form.querySelector("#generation-fields .invalid-feedback");
    if (target) {
      var details = target.closest("details");
      if (details) details.open = true;
      if (target.classList.contains("invalid-feedback")) {
        var slot = target.closest(".media-slot");
        var input = slot && slot.querySelector("input[type=file], .chip-action");
        if (input && input.offsetParent !== null) target = input;
        else target.setAttribute("tabindex", "-1");
      }
      target.focus({ preventScroll: true });
      target.scrollIntoView({ block: "center", behavior: "smooth" });
    }
    toast(message, "danger");
  }

  // ---- uploads: choose, drop, paste; chips with replace / remove ---------------------------
  function kindOf(file) { return (file.type || "").split("/")[0]; }
  function slotFor(form, name) { return form.querySelector('.media-slot[data-slot="' + name + '"]'); }
  function chipsIn(slot) { return slot.querySelectorAll(".upload-chip"); }
  function pickSlot(form, kind) {
    var slots = Array.prototype.slice.call(form.querySelectorAll('.media-slot[data-kind="' + kind + '"]'));
    var free = slots.filter(function (s) { return chipsIn(s).length < parseInt(s.dataset.max || "1", 10); });
    return free[0] || slots[0] || null;
  }
  function setUploading(delta) {
    uploading = Math.max(0, uploading + delta);
    var form = theForm();
    if (!form) return;
    form.classList.toggle("is-uploading", uploading > 0);
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = uploading > 0;
  }
  function slotMessage(slot, html) {
    var status = slot.querySelector(".upload-status");
    if (status) status.innerHTML = html;
  }
  function plain(text) {
    var div = document.createElement("div");
    div.className = "invalid-feedback d-block upload-error";
    div.setAttribute("role", "alert");
    div.textContent = text;
    return div.outerHTML;
  }

  function uploadOne(form, slot, file) {
    var name = slot.dataset.slot;
    var max = parseInt(slot.dataset.max || "1", 10);
    var replacing = replaceTarget && slot.contains(replaceTarget) ? replaceTarget : null;
    replaceTarget = null;
    if (max > 1 && !replacing && chipsIn(slot).length >= max) {
      slotMessage(slot, plain(slot.querySelector("label").textContent.trim() + ": at most " + max + " files."));
      return;
    }
    var data = new FormData();
    ["provider", "mode", "model"].forEach(function (field) {
      var input = form.querySelector("[name=" + field + "]");
      if (input) data.append(field, input.value);
    });
    data.append("slot", name);
    data.append("file", file, file.name || ("pasted." + ((file.type || "image/png").split("/")[1] || "png")));
    var placeholder = document.createElement("div");
    placeholder.className = "upload-pending";
    placeholder.innerHTML = '<span class="spinner-border spinner-border-sm text-primary" aria-hidden="true"></span>';
    var label = document.createElement("span");
    label.className = "chip-name";
    label.textContent = "Uploading " + (file.name || "pasted file") + "…";
    placeholder.appendChild(label);
    slot.querySelector(".upload-chips").appendChild(placeholder);
    slotMessage(slot, "");
    setUploading(1);
    fetch(form.dataset.uploadUrl, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(form), "HX-Request": "true" },
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      placeholder.remove();
      var result = { name: name, kind: slot.dataset.kind, html: html, replacing: replacing };
      // A mode switch is on the wire: its new form would not know this file. Park the chip
      // and put it into the new form when that arrives.
      if (swapping) { parked.push(result); } else { place(result); }
    }).catch(function () {
      placeholder.remove();
      slotMessage(slot, plain("The upload of " + (file.name || "the file") + " failed: try again."));
    }).then(function () { setUploading(-1); });
  }

  // Put an upload's answer (a chip or an error) into the live form's slot of that name.
  function place(result) {
    var live = theForm();
    var target = live && slotFor(live, result.name);
    if (!target || target.dataset.kind !== result.kind) return;
    var holder = document.createElement("div");
    holder.innerHTML = result.html.trim();
    var chip = holder.querySelector(".upload-chip");
    if (!chip) { slotMessage(target, result.html); return; }
    if (result.replacing && target.contains(result.replacing)) {
      result.replacing.replaceWith(chip);
    } else {
      if (parseInt(target.dataset.max || "1", 10) === 1) {
        Array.prototype.forEach.call(chipsIn(target), function (old) { old.remove(); });
      }
      target.querySelector(".upload-chips").appendChild(chip);
    }
    var invalid = target.querySelector("input[type=file].is-invalid");
    if (invalid) { invalid.classList.remove("is-invalid"); invalid.removeAttribute("aria-invalid"); }
    poke(live);
  }

  var swapping = false;
  var parked = [];
  function isFormSwap(detail) {
    var request = requestOf(detail);
    return !!request.target && request.target.id === "generation-form" && request.verb === "get";
  }
  document.addEventListener("htmx:beforeRequest", function (e) { if (isFormSwap(e.detail)) swapping = true; });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (!isFormSwap(e.detail)) return;
    swapping = false;
    flushParked();  // a failed swap leaves the old form: the chips go there
  });
  function flushParked() {
    var waiting = parked;
    parked = [];
    waiting.forEach(place);
  }

  function uploadFiles(form, files, preferredSlot) {
    files.forEach(function (file) {
      var kind = kindOf(file);
      var slot = preferredSlot && preferredSlot.dataset.kind === kind ? preferredSlot : pickSlot(form, kind);
      if (!slot) {
        toast("This mode takes no " + (kind || "such") + " file: pick another mode first.", "warning");
        return;
      }
      uploadOne(form, slot, file);
    });
  }

  document.addEventListener("change", function (e) {
    var input = e.target;
    if (!input.matches || !input.matches("#generation-form .media-slot input[type=file]")) return;
    if (!window.fetch || !input.files || !input.files.length) return;
    var files = Array.prototype.slice.call(input.files);
    var form = theForm();
    var slot = input.closest(".media-slot");
    input.value = "";  // the chip carries it from now on: never sent twice
    files.forEach(function (file) { uploadOne(form, slot, file); });
  });

  var dragTimer = null;
  function dropArea(form, target) {
    var panel = form.closest(".studio-panel") || form;
    return panel.contains(target) ? panel : null;
  }
  function hasFiles(e) {
    return e.dataTransfer && Array.prototype.indexOf.call(e.dataTransfer.types || [], "Files") >= 0;
  }
  document.addEventListener("dragover", function (e) {
    var form = theForm();
    if (!form || !hasFiles(e) || !dropArea(form, e.target)) return;
    e.preventDefault();
    form.classList.add("drag-over");
    clearTimeout(dragTimer);
    dragTimer = setTimeout(function () { form.classList.remove("drag-over"); }, 150);
  });
  document.addEventListener("drop", function (e) {
    var form = theForm();
    if (!form || !hasFiles(e) || !dropArea(form, e.target)) return;
    e.preventDefault();
    form.classList.remove("drag-over");
    uploadFiles(form, Array.prototype.slice.call(e.dataTransfer.files), e.target.closest(".media-slot"));
  });
  document.addEventListener("paste", function (e) {
    var form = theForm();
    if (!form || !e.clipboardData) return;
    var files = Array.prototype.slice.call(e.clipboardData.files || []);
    if (!files.length) return;  // text pastes as usual
    var active = document.activeElement;
    if (active && active !== document.body && !form.contains(active)) return;
    e.preventDefault();
    uploadFiles(form, files, active && active.closest ? active.closest(".media-slot") : null);
  });

  document.addEventListener("click", function (e) {
    if (!e.target.closest) return;
    var remove = e.target.closest("[data-chip-remove]");
    if (remove) {
      var chip = remove.closest(".upload-chip");
      var slot = chip.closest(".media-slot");
      chip.remove();
      poke(theForm());
      var input = slot && slot.querySelector("input[type=file]");
      if (input) input.focus();
      return;
    }
    var replace = e.target.closest("[data-chip-replace]");
    if (replace) {
      replaceTarget = replace.closest(".upload-chip");
      var fileInput = replace.closest(".media-slot").querySelector("input[type=file]");
      if (fileInput) fileInput.click();
      return;
    }
    var recent = e.target.closest("[data-prompt]");
    if (recent) {
      var prompt = document.getElementById("id_prompt");
      if (!prompt) return;
      prompt.value = recent.dataset.prompt;
      prompt.dispatchEvent(new Event("input", { bubbles: true }));
      prompt.focus();
      return;
    }
    var copy = e.target.closest("[data-copy-seed]");
    if (copy) {
      var seed = copy.dataset.copySeed;
      var done = function () { toast("Seed " + seed + " copied.", "success"); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(seed).then(done, function () { toast("Copy failed: the seed is " + seed + ".", "warning"); });
      } else {
        var area = document.createElement("textarea");
        area.value = seed;
        document.body.appendChild(area);
        area.select();
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
        area.remove();
        if (ok) { done(); } else { toast("The seed is " + seed + ".", "primary"); }
      }
    }
  });

  // ---- Remix: the same seed, or a new one ---------------------------------------------------
  document.addEventListener("change", function (e) {
    if (e.target.id !== "same-seed") return;
    var seed = theForm() && theForm().querySelector("[name=seed]");
    if (!seed) return;
    seed.value = e.target.checked ? e.target.dataset.seed : "";
    poke(theForm());
  });
  document.addEventListener("input", function (e) {
    if (e.target.name !== "seed" || !e.target.closest("#generation-form")) return;
    var toggle = document.getElementById("same-seed");
    if (toggle) toggle.checked = e.target.value === toggle.dataset.seed;
  });

  // ---- presets: Enter in the editor saves the preset, not the generation ---------------------
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || e.ctrlKey || e.metaKey || !e.target.closest || !e.target.closest("#preset-editor")) return;
    e.preventDefault();
    var save = document.querySelector("[data-preset-save]");
    if (save) save.click();
  });
  document.addEventListener("preset-saved", function (e) { toast("Preset “" + e.detail.name + "” saved for the team.", "success"); });
  document.addEventListener("preset-deleted", function (e) { toast("Preset “" + e.detail.name + "” deleted.", "success"); });

  // ---- the draft prompt survives a reload ---------------------------------------------------
  function draftKey(form) { return "wanweb:draft:" + form.dataset.project; }
  function store(key, value) { try { window.localStorage.setItem(key, value); } catch (err) { /* private mode */ } }
  function load(key) { try { return window.localStorage.getItem(key); } catch (err) { return null; } }
  document.addEventListener("input", function (e) {
    if (e.target.id !== "id_prompt") return;
    var form = theForm();
    if (form) store(draftKey(form), e.target.value);
  });
  function restoreDraft(form) {
    var prompt = form.querySelector("#id_prompt");
    if (!prompt || prompt.value) return;
    var draft = load(draftKey(form));
    if (draft) prompt.value = draft;
  }

  // ---- the panel ends at the window's bottom, so the sticky Generate bar is always in view ----
  var fitQueued = false;
  function fitPanel() {
    fitQueued = false;
    var panel = document.querySelector(".studio-panel");
    if (!panel) return;
    panel.style.setProperty("--panel-top", Math.max(0, Math.round(panel.getBoundingClientRect().top)) + "px");
  }
  function queueFit() {
    if (!fitQueued) { fitQueued = true; window.requestAnimationFrame(fitPanel); }
  }
  window.addEventListener("scroll", queueFit, { passive: true });
  window.addEventListener("resize", queueFit);

  // ---- a swapped form keeps the keyboard where it was ------------------------------------
  // A submit's answer and a change of provider, mode or model replace the whole form. htmx puts
  // the focus back on an element of the same id; the Generate button has none, so a keyboard
  // user who pressed it was dropped to <body> (the next Tab started over at "Skip to content").
  var focusKey = null;
  document.addEventListener("htmx:beforeRequest", function (e) {
    var request = requestOf(e.detail);
    var aimsAtForm = isFormPost(e.detail) || (!!request.target && request.target.id === "generation-form");
    if (!aimsAtForm) return;
    var form = theForm();
    var active = document.activeElement;
    focusKey = null;
    if (!form || !active || active.id || !form.contains(active)) return;
    if (active.type === "submit") focusKey = "button[type=submit]";
    else if (active.name) focusKey = '[name="' + CSS.escape(active.name) + '"]';
  });
  function restoreFocus(form) {
    var key = focusKey;
    focusKey = null;
    if (!key || (document.activeElement && document.activeElement !== document.body)) return;
    var el = form.querySelector(key);
    if (el && el.offsetParent !== null) el.focus({ preventScroll: true });
  }

  function setUp(form) {
    if (!form) return;
    swapping = false;
    flushParked();
    restoreDraft(form);
    announceRefusal(form);  // a refusal moves the focus to the problem first
    restoreFocus(form);
    setUploading(0);  // a swapped-in form gets the current upload state
  }
  document.addEventListener("htmx:load", function (e) {
    if (e.target && e.target.id === "generation-form") setUp(e.target);
  });
  document.addEventListener("DOMContentLoaded", function () { fitPanel(); setUp(theForm()); });
})();
