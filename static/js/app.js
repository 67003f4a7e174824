// Small glue between htmx and Bootstrap; no framework beyond the two.
(function () {
  function hideToastsLater(root) {
    root.querySelectorAll('.toast[data-autohide="true"]').forEach(function (el) {
      setTimeout(function () { el.classList.remove("show"); el.remove(); }, 5000);
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

  function showToast(text, kind) {
    var box = document.getElementById("messages");
    if (!box) return;
    var toast = document.createElement("div");
    toast.className = "toast show align-items-center border-0 text-bg-" + kind;
    toast.setAttribute("role", "status");
    toast.dataset.autohide = "true";
    var body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = text;
    toast.appendChild(body);
    box.appendChild(toast);
    hideToastsLater(box);
  }
  window.wanweb = { showToast: showToast };

  // Project created over htmx: say so, and put the cursor back in the name field for the next one.
  document.addEventListener("project-created", function (event) {
    showToast("Project “" + event.detail.name + "” created.", "success");
  });
})();
