// Draw the instance's BPMN (served by the app, no CDN) and mark completed and current steps.
(async function () {
  "use strict";
  const el = document.getElementById("diagram");
  if (!el || !window.BpmnJS) return;
  const status = document.getElementById("diagram-status");
  const viewer = new window.BpmnJS({ container: el });
  try {
    const response = await fetch(el.dataset.src, { credentials: "same-origin" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    await viewer.importXML(await response.text());
    viewer.get("canvas").zoom("fit-viewport", "auto");
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    const mark = (ids, cls) => ids.forEach((id) => { if (registry.get(id)) canvas.addMarker(id, cls); });
    mark(JSON.parse(el.dataset.completed), "step-completed");
    mark(JSON.parse(el.dataset.current), "step-current");
    el.dataset.rendered = "true";
  } catch (err) {
    status.textContent = "流程图加载失败：" + err.message;
  }
})();
