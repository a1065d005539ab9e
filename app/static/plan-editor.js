// Plan editor: add/remove rows and show each parent's weight sum as the user types.
(function () {
  "use strict";
  const form = document.getElementById("plan-form");
  if (!form) return;

  function nextIndex(prefix) {
    let max = -1;
    form.querySelectorAll(`[name^="${prefix}-"]`).forEach((el) => {
      const n = parseInt(el.name.split("-")[1], 10);
      if (n > max) max = n;
    });
    return max + 1;
  }

  form.addEventListener("click", (event) => {
    const confirmLink = event.target.closest("[data-confirm]");
    if (confirmLink && !window.confirm(confirmLink.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    const add = event.target.closest("[data-add]");
    if (add) {
      const tbody = document.querySelector(`#${add.dataset.add} tbody`);
      const template = tbody.querySelector("tr[data-row]");
      const row = template.cloneNode(true);
      const index = nextIndex(add.dataset.prefix);
      row.querySelectorAll("input, select, textarea").forEach((el) => {
        el.name = el.name.replace(/^(\w+)-\d+-/, `$1-${index}-`);
        if (el.id) el.id = el.id.replace(/^(\w+)-\d+-/, `$1-${index}-`);
        if (el.tagName === "SELECT") el.selectedIndex = 0;
        else el.value = el.name.endsWith("max_score") ? "100" : "";
      });
      row.querySelectorAll("label[for]").forEach((el) => {
        el.htmlFor = el.htmlFor.replace(/^(\w+)-\d+-/, `$1-${index}-`);
      });
      const details = row.querySelector("details");
      if (details) details.open = false;
      tbody.appendChild(row);
      showSettings(row);
      updateSums();
      return;
    }
    const remove = event.target.closest("[data-remove]");
    if (remove) {
      const row = remove.closest("tr");
      if (row.parentElement.querySelectorAll("tr[data-row]").length > 1) row.remove();
      else row.querySelectorAll("input").forEach((el) => { el.value = ""; });
      updateSums();
    }
  });

  // A manual leaf is entered through an input adapter; an automatic one is scored from a data source.
  function showSettings(row) {
    const method = row.querySelector('[name$="-method"]');
    if (!method) return;
    const auto = method.value === "auto";
    row.querySelectorAll(".settings-manual").forEach((el) => { el.hidden = auto; });
    row.querySelectorAll(".settings-auto").forEach((el) => { el.hidden = !auto; });
  }
  document.querySelectorAll("#indicators tr[data-row]").forEach(showSettings);
  form.addEventListener("change", (event) => {
    if (event.target.name && event.target.name.endsWith("-method")) showSettings(event.target.closest("tr"));
  });

  function updateSums() {
    const sums = new Map();
    document.querySelectorAll("#indicators tr[data-row]").forEach((row) => {
      const parent = row.querySelector('[name$="-parent"]').value.trim() || "一级指标";
      const weight = parseFloat(row.querySelector('[name$="-weight"]').value);
      sums.set(parent, (sums.get(parent) || 0) + (isNaN(weight) ? 0 : weight));
    });
    const parts = [];
    sums.forEach((sum, parent) => {
      const ok = Math.abs(sum - 100) < 1e-9;
      parts.push(`${parent === "一级指标" ? parent : parent + " 的下级"}：${+sum.toFixed(3)}${ok ? " ✓" : "（应为 100）"}`);
    });
    document.getElementById("weight-sums").textContent = "权重合计 — " + parts.join("；");
  }
  form.addEventListener("input", updateSums);
  updateSums();
})();
