// Leaders' dashboard (maps/dashboard_page.py): signs in, fetches /api/dashboard and draws one ECharts chart per
// card, plus incident density by grid on the Leaflet map. Every card exports its data as CSV, every chart as PNG.
// window.gridmapDashboardCharts (name → echarts instance) and gridmapDashboardTables (name → CSV table) are the
// page's state, read by the exports and by the browser tests.
"use strict";

const gridmapDashboardCharts = {};
const gridmapDashboardTables = {};
window.gridmapDashboardCharts = gridmapDashboardCharts;
window.gridmapDashboardTables = gridmapDashboardTables;

function gridmapDashText(key, values) {
  return gridmapFormat(GRIDMAP_PAGE.text[key] || key, values);
}

function gridmapDashTitle(name, values) {
  const card = document.querySelector(`[data-chart="${name}"] .gridmap-dash-title`);
  card.textContent = gridmapDashText(name, values);
  return card.textContent;
}

// -- exports -------------------------------------------------------------------------------------------------------

// A spreadsheet would run a cell starting with = + - @ (or a tab / CR) as a formula: a leading ' keeps it text,
// as the server's CSV exports do.
function gridmapCsvCell(value) {
  let cell = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(cell)) cell = `'${cell}`;
  return /[",\n\r]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

function gridmapCsv(table) {
  const lines = [table.header, ...table.rows].map((row) => row.map(gridmapCsvCell).join(","));
  return `\ufeff${lines.join("\r\n")}\r\n`;  // the BOM: spreadsheets then read the Chinese as UTF-8
}

function gridmapDownload(href, filename) {
  const link = gridmapEl("a", { href, download: filename });
  document.body.appendChild(link);
  link.click();
  link.remove();
}

function gridmapDashExport(name, kind) {
  const stamp = new Date().toISOString().slice(0, 10);
  if (kind === "png") {
    const chart = gridmapDashboardCharts[name];
    if (!chart) return;
    gridmapDownload(chart.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#fff" }), `${name}-${stamp}.png`);
    return;
  }
  const table = gridmapDashboardTables[name];
  if (!table) return;
  const url = URL.createObjectURL(new Blob([gridmapCsv(table)], { type: "text/csv;charset=utf-8" }));
  gridmapDownload(url, `${name}-${stamp}.csv`);
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// -- charts --------------------------------------------------------------------------------------------------------

function gridmapDashChart(name, option, table) {
  const box = document.getElementById(`gridmap-dash-${name}`);
  const chart = gridmapDashboardCharts[name] || echarts.init(box, null, { renderer: "canvas" });
  const empty = !table.rows.length;
  chart.setOption(Object.assign({
    animation: false,
    grid: { left: 48, right: 16, top: 36, bottom: 56, containLabel: true },
    tooltip: { trigger: "axis", confine: true },
    title: empty ? { text: gridmapDashText("no_data"), left: "center", top: "middle",
                     textStyle: { color: "#999", fontSize: 14, fontWeight: "normal" } } : undefined,
  }, option), true);
  gridmapDashboardCharts[name] = chart;
  gridmapDashboardTables[name] = table;
}

function gridmapAreaName(row) {
  return row.name || row.code || gridmapDashText("none");
}

const GRIDMAP_DASH_ROTATE = { interval: 0, rotate: 40, width: 90, overflow: "truncate" };

function gridmapDashStatus(data) {
  gridmapDashTitle("status", { days: data.days });
  const weeks = data.status_by_week.map((w) => w.week);
  const codes = Object.keys(GRIDMAP_PAGE.statuses);
  const t = GRIDMAP_PAGE.text;
  gridmapDashChart("status", {
    legend: { type: "scroll", bottom: 0 },
    xAxis: { type: "category", data: weeks },
    yAxis: { type: "value", name: t.incidents, minInterval: 1 },
    series: codes.map((code) => ({
      name: GRIDMAP_PAGE.statuses[code].label, type: "bar", stack: "status",
      itemStyle: { color: GRIDMAP_PAGE.statuses[code].color },
      data: data.status_by_week.map((w) => w.by_status[code] || 0),
    })),
  }, {
    header: [t.week, ...codes.map((code) => GRIDMAP_PAGE.statuses[code].label)],
    rows: data.status_by_week.map((w) => [w.week, ...codes.map((code) => w.by_status[code] || 0)]),
  });
}

function gridmapDashHandling(data) {
  gridmapDashTitle("handling");
  const t = GRIDMAP_PAGE.text;
  gridmapDashChart("handling", {
    xAxis: { type: "category", data: data.handling_by_week.map((w) => w.week) },
    yAxis: { type: "value", name: t.median_hours },
    series: [{ name: t.median_hours, type: "line", connectNulls: true, symbolSize: 7,
               data: data.handling_by_week.map((w) => w.median_hours) }],
  }, {
    header: [t.week, t.closed, t.median_hours],
    rows: data.handling_by_week.map((w) => [w.week, w.closed, w.median_hours]),
  });
}

function gridmapDashOverdue(name, rows) {
  gridmapDashTitle(name);
  const t = GRIDMAP_PAGE.text;
  gridmapDashChart(name, {
    xAxis: { type: "category", data: rows.map(gridmapAreaName), axisLabel: GRIDMAP_DASH_ROTATE },
    yAxis: { type: "value", name: t.overdue_rate, max: (v) => Math.max(100, v.max), axisLabel: { formatter: "{value}%" } },
    series: [{ name: t.overdue_rate, type: "bar", itemStyle: { color: "#d7191c" },
               data: rows.map((r) => Math.round(r.overdue_rate * 1000) / 10) }],
  }, {
    header: [t.area, t.name, t.total, t.overdue, t.overdue_rate],
    rows: rows.map((r) => [r.code, r.name, r.total, r.overdue, r.overdue_rate]),
  });
}

function gridmapDashRatings(data) {
  const r = data.ratings;
  gridmapDashTitle("ratings", { mean: r.mean === null ? "–" : r.mean, n: r.evaluated });
  const t = GRIDMAP_PAGE.text;
  gridmapDashChart("ratings", {
    xAxis: { type: "category", data: r.distribution.map((d) => `${d.rating}`), name: t.rating },
    yAxis: { type: "value", name: t.incidents, minInterval: 1 },
    series: [{ name: t.incidents, type: "bar", itemStyle: { color: "#2171b5" },
               data: r.distribution.map((d) => d.incidents) }],
  }, {
    header: [t.rating, t.incidents],
    rows: r.distribution.map((d) => [d.rating, d.incidents]),
  });
}

function gridmapDashLoad(data) {
  const load = data.grid_load;
  gridmapDashTitle("load", { grids: load.grids, outside: load.outside_band });
  const t = GRIDMAP_PAGE.text;
  const labels = load.bins.map((b) => `${b.start}–${b.end}`);
  // The band as a shaded range over the bins it spans (an open end reaches the chart's edge).
  const inBand = (b) => (load.band_min === null || b.end > load.band_min) && (load.band_max === null || b.start <= load.band_max);
  const spanned = labels.filter((_, i) => inBand(load.bins[i]));
  const band = spanned.length && (load.band_min !== null || load.band_max !== null)
    ? { silent: true, itemStyle: { color: "rgba(39, 174, 96, .15)" },
        label: { show: true, position: "insideTop", color: "#1a7f37",
                 formatter: `${t.band} ${load.band_min ?? ""}–${load.band_max ?? ""}` },
        data: [[{ xAxis: spanned[0] }, { xAxis: spanned[spanned.length - 1] }]] }
    : undefined;
  gridmapDashChart("load", {
    xAxis: { type: "category", data: labels, name: t.households, axisLabel: GRIDMAP_DASH_ROTATE },
    yAxis: { type: "value", name: t.grids, minInterval: 1 },
    series: [{ name: t.grids, type: "bar", barCategoryGap: "2%", markArea: band,
               itemStyle: { color: "#6a51a3" }, data: load.bins.map((b) => b.grids) }],
  }, {
    header: [`${t.households} ≥`, `${t.households} <`, t.grids, `${t.band} min`, `${t.band} max`],
    rows: load.bins.map((b) => [b.start, b.end, b.grids, load.band_min, load.band_max]),
  });
}

function gridmapDashCoverage(data) {
  gridmapDashTitle("coverage");
  const t = GRIDMAP_PAGE.text;
  const rows = data.coverage.rows;
  const areas = [...new Set(rows.map((r) => gridmapAreaName(r.area)))];
  const tiers = [...new Set(rows.map((r) => r.minutes))].sort((a, b) => a - b);
  const colors = ["#41ab5d", "#2171b5", "#fd8d3c", "#807dba"];
  gridmapDashChart("coverage", {
    legend: { bottom: 0 },
    xAxis: { type: "category", data: areas, axisLabel: GRIDMAP_DASH_ROTATE },
    yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
    series: tiers.map((minutes, i) => ({
      name: gridmapDashText("tier", { minutes }), type: "bar", itemStyle: { color: colors[i % colors.length] },
      data: areas.map((area) => {
        const row = rows.find((r) => r.minutes === minutes && gridmapAreaName(r.area) === area);
        return row && row.household_coverage !== null ? Math.round(row.household_coverage * 1000) / 10 : null;
      }),
    })),
  }, {
    header: [t.community, t.name, t.minutes, t.households, t.covered, t.coverage_share],
    rows: rows.map((r) => [r.area.code, r.area.name, r.minutes, r.households, r.households_covered,
                           r.household_coverage]),
  });
}

// -- the density map -----------------------------------------------------------------------------------------------

const GRIDMAP_DENSITY_COLORS = ["#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"];

async function gridmapDashDensity(map, data) {
  gridmapDashTitle("density");
  const t = GRIDMAP_PAGE.text;
  const grids = data.density.grids;
  gridmapDashboardTables.density = {
    header: [t.grid, t.name, t.incidents, t.per_km2],
    rows: grids.map((g) => [g.code, g.name, g.incidents, g.per_km2]),
  };
  if (data.density.plan_id === null) return;
  const byId = new Map(grids.map((g) => [g.id, g]));
  const top = Math.max(0, ...grids.map((g) => g.per_km2 || 0));
  const shade = (value) => {
    if (!value || !top) return GRIDMAP_DENSITY_COLORS[0];
    const step = Math.min(GRIDMAP_DENSITY_COLORS.length - 1, 1 + Math.floor((value / top) * (GRIDMAP_DENSITY_COLORS.length - 1)));
    return GRIDMAP_DENSITY_COLORS[step];
  };
  const shapes = await gridmapRequest(`/api/plans/${data.density.plan_id}/grids`);
  const layer = L.geoJSON(shapes, {
    style: (feature) => {
      const grid = byId.get(feature.id ?? feature.properties.id);
      return { color: "#555", weight: 1, fillOpacity: 0.7, fillColor: shade(grid && grid.per_km2),
               className: "gridmap-density-grid" };
    },
    onEachFeature: (feature, shape) => {
      const grid = byId.get(feature.id ?? feature.properties.id);
      // Names come from imported data: escaped, since a tooltip string is HTML.
      if (grid) shape.bindTooltip(gridmapEscape(`${grid.code} ${grid.name || ""}: ${grid.incidents} · ${grid.per_km2 ?? "–"} ${t.per_km2}`));
    },
  }).addTo(map);
  const bounds = layer.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, gridmapFitPadding(map, [8, 8], [8, 8]));
  window.gridmapDashboardDensity = layer;
}

// -- the page ------------------------------------------------------------------------------------------------------

function gridmapDashboard(map) {
  gridmapLanguageLinks(".gridmap-lang-link");
  // The map is the density card's body: folium puts it first in the page, the card holds it.
  document.getElementById("gridmap-dash-density").appendChild(map.getContainer());
  map.invalidateSize();
  for (const button of document.querySelectorAll("[data-export]")) {
    button.addEventListener("click", () => gridmapDashExport(button.closest("[data-chart]").dataset.chart,
                                                             button.dataset.export));
  }
  window.addEventListener("resize", () => {
    for (const chart of Object.values(gridmapDashboardCharts)) chart.resize();
    map.invalidateSize();
  });
  const status = document.getElementById("gridmap-dash-state");
  return gridmapEnsureSignedIn()
    .then(() => gridmapRequest("/api/dashboard"))
    .then((data) => {
      gridmapDashStatus(data);
      gridmapDashHandling(data);
      gridmapDashOverdue("overdue_community", data.overdue_by_community);
      gridmapDashOverdue("overdue_department", data.overdue_by_department);
      gridmapDashRatings(data);
      gridmapDashLoad(data);
      gridmapDashCoverage(data);
      return gridmapDashDensity(map, data);
    })
    .then(() => {
      const at = new Date().toLocaleString(GRIDMAP_PAGE.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
      status.textContent = gridmapDashText("updated", { at });
      document.body.dataset.dashboard = "ready";
    })
    .catch((failure) => {
      status.textContent = gridmapDashText("failed") + failure.message;
      status.classList.add("gridmap-dash-error");
      document.body.dataset.dashboard = "failed";
    });
}
