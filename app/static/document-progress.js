// Polls a document's rendering status (documents/_progress.html) and reloads the page when it is done.
(function () {
  "use strict";
  const box = document.getElementById("doc-progress");
  if (!box) { return; }
  const bar = box.querySelector(".progress-bar");
  const label = box.querySelector(".doc-status");
  function poll() {
    fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then((r) => r.json())
      .then((s) => {
        bar.style.width = Math.max(s.progress, 5) + "%";
        box.querySelector(".progress").setAttribute("aria-valuenow", s.progress);
        label.textContent = s.label || s.status;
        if (s.status === "ready" || s.status === "failed") { window.location.reload(); } else { setTimeout(poll, 1000); }
      })
      .catch(() => setTimeout(poll, 3000));
  }
  setTimeout(poll, 1000);
})();
