// Score-entry grid: a deduction cell shows full marks less the ticked items' points as they are ticked.
(function () {
  "use strict";
  function update(details) {
    var max = parseFloat(details.dataset.max);
    var score = max;
    details.querySelectorAll("input[type=checkbox]:checked").forEach(function (box) {
      score -= parseFloat(box.dataset.points);
    });
    score = Math.max(0, Math.round(score * 1000) / 1000);
    details.querySelector(".deduction-score").textContent = String(score);
  }
  document.querySelectorAll("details.deductions").forEach(function (details) {
    details.addEventListener("change", function () { update(details); });
  });
  // Leaving with unsaved changes loses them: ask first (not after pressing save or submit).
  var form = document.querySelector(".score-grid-form");
  if (!form) { return; }
  var dirty = false;
  form.addEventListener("input", function () { dirty = true; });
  form.addEventListener("change", function () { dirty = true; });
  form.addEventListener("submit", function () { dirty = false; });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });
}());
