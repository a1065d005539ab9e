// Comparison charts on the results pages, drawn with the vendored ECharts (no CDN) from the JSON
// the page embeds (#chart-data): numbers arrive as decimal strings, labels already translated.
(function () {
  "use strict";
  const source = document.getElementById("chart-data");
  if (!source || !window.echarts) return;
  const data = JSON.parse(source.textContent);
  const numbers = (values) => values.map((v) => (v === null ? null : Number(v)));
  const font = '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif';
  const scoreAxis = { type: "value", min: 0, max: 100, name: data.labels.score || data.labels.total };
  // Many objects: show a dozen at a time and let the reader slide along.
  const zoom = (n) => (n > 12 ? [{ type: "slider", start: 0, end: Math.round((12 / n) * 100), height: 18, bottom: 4 },
    { type: "inside" }] : []);

  function draw(id, option) {
    const el = document.getElementById(id);
    if (!el) return;
    const chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.on("finished", () => { el.dataset.rendered = "true"; });
    chart.setOption(Object.assign({ animation: false, textStyle: { fontFamily: font },
      tooltip: { trigger: "axis" } }, option));
    window.addEventListener("resize", () => chart.resize());
  }

  const tilted = (names) => names.length > 6;
  const categories = (names) => ({ type: "category", data: names, axisLabel: { interval: 0, rotate: tilted(names) ? 30 : 0 } });
  // Room below the axis for tilted names and the zoom slider.
  const grid = { left: 48, right: 16, top: 40,
    bottom: 32 + (tilted(data.objects || []) ? 40 : 0) + ((data.objects || []).length > 12 ? 28 : 0) };

  if (data.totals) {
    draw("chart-totals", {
      grid, xAxis: categories(data.objects), yAxis: scoreAxis, dataZoom: zoom(data.objects.length),
      series: [{ type: "bar", name: data.labels.total, data: numbers(data.totals), barMaxWidth: 36,
        itemStyle: { color: "#1f4e8c" }, label: { show: true, position: "top" } }],
    });
  }
  if (data.indicators) {
    draw("chart-indicators", {
      grid: Object.assign({}, grid, { top: 64 }), legend: { top: 0, type: "scroll" },
      xAxis: categories(data.objects), yAxis: scoreAxis,
      dataZoom: zoom(data.objects.length),
      series: data.indicators.map((i) => ({ type: "bar", name: i.name, data: numbers(i.scores), barMaxWidth: 24 })),
    });
  }
  if (data.trend) {
    draw("chart-trend", {
      grid: { left: 48, right: 32, top: 40, bottom: 48 },
      xAxis: { type: "category", data: data.periods },
      yAxis: { type: "value", min: 0, max: 100, name: data.labels.total },
      series: [{ type: "line", name: data.labels.total, data: numbers(data.trend), symbolSize: 9,
        itemStyle: { color: "#1f4e8c" }, label: { show: true, position: "top" } }],
    });
  }
})();
