// Public service-facility map (社区生活圈) for residents: facilities by category, 5/10/15-minute walking
// catchments, household coverage by community and "what can I reach from here". Everything is fetched from
// public endpoints that carry no personal data; the page's configuration comes in GRIDMAP_PAGE (public_map.py).
"use strict";

const GRIDMAP_TEXT = {
  zh: {
    status: (facilities, communities) => `${facilities} 处设施 · ${communities} 个社区`,
    hint: "点击设施图标查看 5/10/15 分钟步行范围；点击地图空白处或“定位”，查看从该处步行可达的最近设施。",
    error: (message) => `加载失败：${message}`,
    minutes: (m) => `${m} 分钟`,
    address: "地址",
    capacity: "规模",
    catchmentLoading: "正在计算步行范围…",
    catchmentDone: (m, metres, km) => `${m} 分钟步行范围（约 ${metres} 米）：可达道路 ${km} 公里`,
    catchmentNone: "该设施不在步行网络附近，无法计算步行范围。",
    coverageLabel: "社区覆盖率",
    coverageTitle: (tier) => `${tier}：该圈层设施齐全的住户比例`,
    coverageCategoryTitle: (name, m) => `${name}：${m} 分钟内可达的住户比例`,
    coverageWhat: "按哪类设施着色",
    coverageTier: "步行时间",
    tierComplete: "该圈层全部设施",
    coverageTooltip: (name, share, covered, households) =>
      `<b>${name}</b><br>住户覆盖率 ${share}（${covered} / ${households} 户）`,
    noData: "无数据",
    reachTitle: "从此处步行可达",
    reachLoading: "正在计算…",
    reachOff: (snap) => `此处距步行网络超过 ${snap} 米，无法计算步行距离。`,
    reachInfo: (access, speed) => `距最近道路 ${access} 米 · 步行速度 ${speed} 米/秒`,
    reachNone: "不可达",
    within: (tier) => `在 ${tier} 分钟内`,
    outside: (tier) => `超过 ${tier} 分钟`,
    metres: (d) => `${d} 米`,
    mins: (m) => `${m} 分钟`,
    legend: "图例",
    categories: "设施类别",
    catchments: "步行范围",
    here: "所选位置",
    layerCoverage: "社区覆盖率",
    layerCatchment: "步行范围",
    all: "全部",
    onlyThis: (name) => `只看此类：${name}`,
    close: "关闭",
    route: (name, facility) => `步行路线：到最近的${name}（${facility}）`,
    routeHint: "选择上方类别或点击表中一行，显示步行路线。",
    locate: "定位到我的位置",
    locating: "正在定位…",
    locateFailed: (message) => `无法定位：${message}`,
    searchNone: "没有找到匹配的地点。",
    searchFailed: "搜索暂不可用。",
    kinds: { facility: "设施", building: "楼栋", compound: "小区" },
  },
  en: {
    status: (facilities, communities) => `${facilities} facilities · ${communities} communities`,
    hint: "Tap a facility for its 5/10/15-minute walking area; tap anywhere else on the map (or locate "
      + "yourself) to see the nearest facilities you can walk to from there.",
    error: (message) => `Loading failed: ${message}`,
    minutes: (m) => `${m} min`,
    address: "Address",
    capacity: "Capacity",
    catchmentLoading: "Computing the walking area…",
    catchmentDone: (m, metres, km) => `${m}-minute walk (about ${metres} m): ${km} km of streets reached`,
    catchmentNone: "This facility is not near the walking network: no walking area.",
    coverageLabel: "Coverage by community",
    coverageTitle: (tier) => `${tier}: households with every facility of the tier`,
    coverageCategoryTitle: (name, m) => `${name}: households within ${m} min`,
    coverageWhat: "shade by which facilities",
    coverageTier: "walking time",
    tierComplete: "every facility of the tier",
    coverageTooltip: (name, share, covered, households) =>
      `<b>${name}</b><br>Household coverage ${share} (${covered} / ${households} households)`,
    noData: "no data",
    reachTitle: "Within walking distance",
    reachLoading: "Computing…",
    reachOff: (snap) => `This spot is more than ${snap} m from the walking network: no walking distances.`,
    reachInfo: (access, speed) => `${access} m to the nearest street · walking at ${speed} m/s`,
    reachNone: "not reachable",
    within: (tier) => `within ${tier} min`,
    outside: (tier) => `over ${tier} min`,
    metres: (d) => `${d} m`,
    mins: (m) => `${m} min`,
    legend: "Legend",
    categories: "Facility categories",
    catchments: "Walking areas",
    here: "Selected spot",
    layerCoverage: "Coverage by community",
    layerCatchment: "Walking area",
    all: "All",
    onlyThis: (name) => `Show only: ${name}`,
    close: "Close",
    route: (name, facility) => `Walking route to the nearest ${name} (${facility})`,
    routeHint: "Choose a category above or a row below for its walking route.",
    locate: "Show my location",
    locating: "Locating…",
    locateFailed: (message) => `Could not find your location: ${message}`,
    searchNone: "No place matches.",
    searchFailed: "Search is not available.",
    kinds: { facility: "facility", building: "building", compound: "compound" },
  },
};

// Catchments in hues the coverage shading (red to green) does not use.
const GRIDMAP_CATCHMENT_COLOURS = { 5: "#7b3294", 10: "#2166ac", 15: "#252525" };
// Household coverage classes, best first: [lowest share, fill colour].
const GRIDMAP_COVERAGE_CLASSES = [
  [0.9, "#1a9850"], [0.75, "#91cf60"], [0.5, "#fee08b"], [0.25, "#fc8d59"], [0, "#d73027"],
];
const GRIDMAP_NO_DATA = "#bdbdbd";

// Public endpoints answer JSON; a failed load names its URL (several run side by side).
const GRIDMAP_PUBLIC_REQUEST = { headers: { Accept: "application/json" }, nameUrl: true };

// The walking speed the page was configured with, as a query suffix; otherwise the API's default applies.
function gridmapSpeedParam() {
  return GRIDMAP_PAGE.speed ? `&speed=${GRIDMAP_PAGE.speed}` : "";
}

function gridmapCategoryBadge(category, extraClass) {
  return `<span class="gridmap-badge ${extraClass || ""}" style="background:${category.colour}">`
    + `${gridmapEscape(category.glyph)}</span>`;
}

function gridmapFacilityIcon(category) {
  return L.divIcon({
    className: `gridmap-facility gridmap-facility-${category.code}`,
    html: gridmapCategoryBadge(category),
    iconSize: [24, 24],
    iconAnchor: [12, 12],
    popupAnchor: [0, -12],
  });
}

// One cluster group holds every category, so markers of different categories at one spot cluster and spiderfy
// instead of covering each other. A cluster of one category keeps its colour and glyph; a mixed one is neutral.
const GRIDMAP_MIXED_CLUSTER = "#37474f";

function gridmapFacilityClusterIcon(state) {
  return (cluster) => {
    const codes = new Set(cluster.getAllChildMarkers().map((m) => m.options.gridmapCategory));
    const only = codes.size === 1 ? state.categories.get([...codes][0]) : null;
    const colour = only ? only.colour : GRIDMAP_MIXED_CLUSTER;
    const glyph = only ? `<span class="gridmap-cluster-glyph" style="color:${colour}">${gridmapEscape(only.glyph)}</span>`
      : "";
    return L.divIcon({
      className: "gridmap-facility-cluster",
      html: `<span class="gridmap-badge" style="background:${colour}">${cluster.getChildCount()}</span>${glyph}`,
      iconSize: [30, 30],
      iconAnchor: [15, 15],
    });
  };
}

function gridmapCoverageColour(share) {
  if (share === null || share === undefined) return GRIDMAP_NO_DATA;
  for (const [lowest, colour] of GRIDMAP_COVERAGE_CLASSES) if (share >= lowest) return colour;
  return GRIDMAP_NO_DATA;
}

function gridmapPercent(share) {
  return share === null || share === undefined ? null : `${(share * 100).toFixed(1)}%`;
}

// -- facilities and catchments --------------------------------------------------------------------------------

function gridmapFacilityPopup(state, feature, category) {
  const t = state.text;
  const p = feature.properties;
  const box = L.DomUtil.create("div", "gridmap-popup");
  const details = [];
  if (p.address) details.push(`${t.address}：${gridmapEscape(p.address)}`);
  if (p.capacity !== null && p.capacity !== undefined) details.push(`${t.capacity}：${gridmapEscape(p.capacity)}`);
  box.innerHTML = `<div class="gridmap-popup-title">${gridmapCategoryBadge(category)}`
    + ` <b>${gridmapEscape(p.name)}</b></div>`
    + `<div class="gridmap-popup-category">${gridmapEscape(category.name)}</div>`
    + details.map((d) => `<div class="gridmap-popup-detail">${d}</div>`).join("");
  const buttons = L.DomUtil.create("div", "gridmap-catchment-buttons", box);
  const note = L.DomUtil.create("div", "gridmap-catchment-note", box);
  for (const tier of GRIDMAP_PAGE.tiers) {
    const button = L.DomUtil.create("button", "gridmap-catchment-button", buttons);
    button.type = "button";
    button.textContent = t.minutes(tier.minutes);
    button.style.borderColor = GRIDMAP_CATCHMENT_COLOURS[tier.minutes] || "#555";
    button.dataset.minutes = tier.minutes;
    L.DomEvent.on(button, "click", (event) => {
      L.DomEvent.stop(event);
      gridmapShowCatchment(state, p.id, tier.minutes, note);
    });
  }
  L.DomEvent.disableClickPropagation(box);
  return box;
}

async function gridmapShowCatchment(state, facilityId, minutes, note) {
  const t = state.text;
  const request = ++state.catchmentRequest;  // a later press wins over a slower earlier answer
  note.textContent = t.catchmentLoading;
  try {
    const feature = await gridmapRequest(
      `/api/facilities/${facilityId}/catchment?minutes=${minutes}${gridmapSpeedParam()}`, GRIDMAP_PUBLIC_REQUEST);
    if (request !== state.catchmentRequest) return;
    state.catchment.clearLayers();  // one catchment at a time: replaced on each request
    if (!feature.geometry) {
      note.textContent = t.catchmentNone;
      return;
    }
    const colour = GRIDMAP_CATCHMENT_COLOURS[minutes] || "#555";
    state.catchment.addLayer(L.geoJSON(feature, {
      pane: "gridmap-catchment",
      interactive: false,
      style: { color: colour, weight: 2.5, fillColor: colour, fillOpacity: 0.15, className: "gridmap-catchment" },
    }));
    if (!state.map.hasLayer(state.catchment)) state.catchment.addTo(state.map);
    const props = feature.properties;
    note.textContent = t.catchmentDone(minutes, Math.round(props.threshold_m),
                                       (props.reached_network_m / 1000).toFixed(1));
  } catch (error) {
    if (request === state.catchmentRequest) note.textContent = t.error(error.message);
  }
}

function gridmapDrawFacilities(state, facilities) {
  state.facilities = L.markerClusterGroup({
    maxClusterRadius: 36,
    showCoverageOnHover: false,
    spiderfyOnMaxZoom: true,
    chunkedLoading: true,
    iconCreateFunction: gridmapFacilityClusterIcon(state),
  });
  for (const feature of facilities.features) {
    const code = feature.properties.category;
    let category = state.categories.get(code);
    if (!category) {  // a category the registry no longer lists: still shown, under its code
      category = { code, name: code, tier: null, colour: "#555555", glyph: "?" };
      state.categories.set(code, category);
    }
    if (!feature.geometry) continue;
    const [lon, lat] = feature.geometry.coordinates;
    const marker = L.marker([lat, lon], {
      icon: gridmapFacilityIcon(category), title: feature.properties.name || "", gridmapCategory: code,
    });
    marker.bindPopup(() => gridmapFacilityPopup(state, feature, category), { minWidth: 220, maxWidth: 280 });
    if (!state.byCategory.has(code)) state.byCategory.set(code, []);
    state.byCategory.get(code).push(marker);
    state.markers.set(feature.properties.id, { marker, category: code });
  }
  state.facilities.addLayers([...state.markers.values()].map((m) => m.marker));
  state.facilities.addTo(state.map);
}

// -- category chips: "show only this" ----------------------------------------------------------------------

function gridmapChips(state) {
  const box = document.getElementById("gridmap-chips");
  const t = state.text;
  const chip = (code, html, title) => {
    const button = gridmapEl("button", { type: "button", class: "gridmap-chip", "data-category": code,
                                         title, "aria-pressed": code === "" ? "true" : "false" });
    button.innerHTML = html;
    button.addEventListener("click", () => gridmapShowOnly(state, code));
    return button;
  };
  box.appendChild(chip("", gridmapEscape(t.all), t.all));
  for (const category of state.categories.values()) {
    if (!state.byCategory.has(category.code)) continue;  // nothing of it in the district
    box.appendChild(chip(category.code,
      `${gridmapCategoryBadge(category, "gridmap-badge-small")} ${gridmapEscape(category.name)}`,
      t.onlyThis(category.name)));
  }
}

// Only one category's markers (code "" = all); the walking route follows the chosen category.
function gridmapShowOnly(state, code) {
  state.only = code;
  for (const button of document.querySelectorAll("#gridmap-chips .gridmap-chip")) {
    button.setAttribute("aria-pressed", String(button.dataset.category === code));
  }
  state.facilities.clearLayers();
  const markers = code ? (state.byCategory.get(code) || []) : [...state.markers.values()].map((m) => m.marker);
  state.facilities.addLayers(markers);
  gridmapDrawRoute(state, code);
}

// -- coverage by community ------------------------------------------------------------------------------------

function gridmapCommunityStyle(row) {
  return {
    color: "#ffffff", weight: 1.5, opacity: 0.9,
    fillColor: gridmapCoverageColour(row ? row.household_coverage : null), fillOpacity: 0.42,
    className: "gridmap-community",
  };
}

function gridmapCoverageTooltip(state, name, row) {
  const t = state.text;
  if (!row || row.household_coverage === null) return `<b>${gridmapEscape(name)}</b><br>${t.noData}`;
  return t.coverageTooltip(gridmapEscape(name), gridmapPercent(row.household_coverage),
                           row.households_covered, row.households);
}

// Shading: households of each community reaching every facility of a tier (tier_complete, the default) or
// one category, within the chosen minutes. A later choice wins over a slower earlier answer.
async function gridmapLoadCoverage(state, category, minutes) {
  const request = ++state.coverageRequest;
  const data = await gridmapRequest(`/api/coverage?level=community&category=${encodeURIComponent(category)}`
    + `&minutes=${minutes}${gridmapSpeedParam()}`, GRIDMAP_PUBLIC_REQUEST);
  if (request !== state.coverageRequest) return;
  const rows = new Map();
  for (const row of data.rows) {
    if (row.category === category && row.minutes === minutes && row.area.id !== null) rows.set(row.area.id, row);
  }
  state.coverage = { category, minutes };
  state.communities.eachLayer((layer) => {
    const p = layer.feature.properties;
    const row = rows.get(p.id);
    layer.setStyle(gridmapCommunityStyle(row));
    layer.setTooltipContent(gridmapCoverageTooltip(state, p.name, row));
  });
  gridmapRenderCoverageLegend(state);
}

function gridmapCoverageControl(state) {
  const box = document.getElementById("gridmap-coverage-control");
  const t = state.text;
  const option = (value, label, selected) =>
    `<option value="${gridmapEscape(value)}"${selected ? " selected" : ""}>${gridmapEscape(label)}</option>`;
  const tiers = GRIDMAP_PAGE.tiers.map((tier) =>
    option(tier.minutes, tier.name, tier.minutes === state.coverage.minutes)).join("");
  const categories = [option("tier_complete", t.tierComplete, true)]
    .concat(GRIDMAP_PAGE.categories.map((c) => option(c.code, c.name, false))).join("");
  box.innerHTML = `<details${gridmapNarrow() ? "" : " open"}>`
    + `<summary class="gridmap-coverage-title">${t.coverageLabel}</summary>`
    + `<div class="gridmap-coverage-selects">`
    + `<select id="gridmap-coverage-category" title="${gridmapEscape(t.coverageWhat)}">${categories}</select>`
    + `<select id="gridmap-tier" title="${gridmapEscape(t.coverageTier)}">${tiers}</select></div></details>`;
  const what = box.querySelector("#gridmap-coverage-category");
  const tier = box.querySelector("#gridmap-tier");
  const reload = async () => {
    what.disabled = tier.disabled = true;
    try {
      await gridmapLoadCoverage(state, what.value, Number(tier.value));
    } catch (error) {
      document.getElementById("gridmap-status").textContent = t.error(error.message);
    } finally {
      what.disabled = tier.disabled = false;
    }
  };
  what.addEventListener("change", () => {
    const category = state.categories.get(what.value);
    if (category && category.tier) tier.value = String(category.tier);  // a category's own tier first
    reload();
  });
  tier.addEventListener("change", reload);
}

// -- legend ----------------------------------------------------------------------------------------------------

function gridmapLegend(state) {
  const legend = L.control({ position: "bottomright" });
  legend.onAdd = () => {
    const box = L.DomUtil.create("div", "gridmap-legend leaflet-bar");
    box.id = "gridmap-legend";
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    return box;
  };
  legend.addTo(state.map);
  state.legend = legend.getContainer();
  gridmapRenderCoverageLegend(state);
}

function gridmapRenderCoverageLegend(state) {
  if (!state.legend) return;
  const t = state.text;
  const tiers = new Map(GRIDMAP_PAGE.tiers.map((tier) => [tier.minutes, tier]));
  const byTier = [];
  for (const category of GRIDMAP_PAGE.categories) {
    const last = byTier[byTier.length - 1];
    if (!last || last.tier !== category.tier) byTier.push({ tier: category.tier, items: [] });
    byTier[byTier.length - 1].items.push(category);
  }
  const categories = byTier.map(({ tier, items }) =>
    `<div class="gridmap-legend-tier">${gridmapEscape((tiers.get(tier) || { name: tier }).name)}</div>`
    + items.map((c) => `<div class="gridmap-legend-row">${gridmapCategoryBadge(c, "gridmap-badge-small")}`
      + ` ${gridmapEscape(c.name)}</div>`).join("")).join("");
  const classes = GRIDMAP_COVERAGE_CLASSES.map(([lowest, colour], i) => {
    const upper = i === 0 ? 100 : GRIDMAP_COVERAGE_CLASSES[i - 1][0] * 100;
    return `<div class="gridmap-legend-row"><span class="gridmap-swatch" style="background:${colour}"></span> `
      + `${Math.round(lowest * 100)}–${Math.round(upper)}%</div>`;
  }).join("") + `<div class="gridmap-legend-row"><span class="gridmap-swatch" style="background:${GRIDMAP_NO_DATA}">`
    + `</span> ${t.noData}</div>`;
  const catchments = GRIDMAP_PAGE.tiers.map((tier) => {
    const colour = GRIDMAP_CATCHMENT_COLOURS[tier.minutes] || "#555555";
    return `<span class="gridmap-legend-inline"><span class="gridmap-swatch" `
      + `style="border-color:${colour};background:${colour}55"></span> ${t.minutes(tier.minutes)}</span>`;
  }).join(" ");
  const { category, minutes } = state.coverage;
  const tier = tiers.get(minutes);
  const title = category === "tier_complete"
    ? t.coverageTitle(tier ? tier.name : minutes)
    : t.coverageCategoryTitle((state.categories.get(category) || { name: category }).name, minutes);
  const shown = state.legend.querySelector("details");
  const open = shown ? shown.open : !gridmapNarrow();
  state.legend.innerHTML = `<details${open ? " open" : ""}><summary>${t.legend}</summary>`
    + `<div class="gridmap-legend-title">${gridmapEscape(title)}</div>`
    + `<div class="gridmap-legend-coverage">${classes}</div>`
    + `<div class="gridmap-legend-title">${t.catchments}</div><div>${catchments}</div>`
    + `<div class="gridmap-legend-title">${t.categories}</div>`
    + `<div class="gridmap-legend-categories">${categories}</div>`
    + "</details>";
}

// -- what can I reach from here --------------------------------------------------------------------------------

// The reach answer's head: its title and the close button (the sheet's handle on a phone).
function gridmapReachHead(state) {
  return `<div class="gridmap-sheet-head"><span class="gridmap-reach-title">${state.text.reachTitle}</span>`
    + `<button type="button" class="gridmap-sheet-close" aria-label="${gridmapEscape(state.text.close)}"`
    + ` title="${gridmapEscape(state.text.close)}">×</button></div>`;
}

function gridmapCloseReach(state) {
  const box = document.getElementById("gridmap-reach");
  box.hidden = true;
  state.reachRequest += 1;  // an answer still on its way is dropped
  state.reachAnswer = null;
  state.route.clearLayers();
  if (state.here) {
    state.map.removeLayer(state.here);
    state.here = null;
  }
}

// Closes by its button anywhere, and by a downward swipe on its head (the phone's bottom sheet).
function gridmapBindSheet(state) {
  const box = document.getElementById("gridmap-reach");
  box.addEventListener("click", (event) => {
    if (event.target.closest(".gridmap-sheet-close")) gridmapCloseReach(state);
  });
  let startY = null;
  box.addEventListener("touchstart", (event) => {
    startY = event.target.closest(".gridmap-sheet-head") ? event.touches[0].clientY : null;
  }, { passive: true });
  box.addEventListener("touchend", (event) => {
    if (startY !== null && event.changedTouches[0].clientY - startY > 50) gridmapCloseReach(state);
    startY = null;
  }, { passive: true });
}

async function gridmapReach(state, latlng) {
  const t = state.text;
  const box = document.getElementById("gridmap-reach");
  const request = ++state.reachRequest;
  if (state.here) state.here.setLatLng(latlng);
  else {
    state.here = L.marker(latlng, {
      icon: L.divIcon({ className: "gridmap-here", html: "<span></span>", iconSize: [18, 18], iconAnchor: [9, 9] }),
      title: t.here, keyboard: false, zIndexOffset: 1000,
    }).addTo(state.map);
  }
  state.route.clearLayers();
  box.hidden = false;
  box.dataset.ready = "false";
  box.innerHTML = `${gridmapReachHead(state)}<div>${t.reachLoading}</div>`;
  try {
    const lon = latlng.lng.toFixed(7), lat = latlng.lat.toFixed(7);
    const answer = await gridmapRequest(`/api/reach?lon=${lon}&lat=${lat}&path=true${gridmapSpeedParam()}`,
                                        GRIDMAP_PUBLIC_REQUEST);
    if (request !== state.reachRequest) return;
    state.reachAnswer = answer;
    gridmapRenderReach(state, box, answer);
    gridmapDrawRoute(state, state.only);
    box.dataset.ready = "true";
  } catch (error) {
    if (request !== state.reachRequest) return;
    box.innerHTML = `${gridmapReachHead(state)}<div>${gridmapEscape(t.error(error.message))}</div>`;
    box.dataset.ready = "error";
  }
}

// The walk to the nearest facility of `code` (from the last reach answer) as a line along the streets.
function gridmapDrawRoute(state, code) {
  state.route.clearLayers();
  const note = document.getElementById("gridmap-route-note");
  const answer = state.reachAnswer;
  if (!answer || !code) {
    if (note) note.textContent = answer && answer.on_network ? state.text.routeHint : "";
    return;
  }
  const item = answer.categories.find((c) => c.category === code);
  for (const row of document.querySelectorAll("#gridmap-reach tr.gridmap-reach-row")) {
    row.classList.toggle("gridmap-route-row", row.dataset.category === code);
  }
  if (!item || !item.path) {
    if (note) note.textContent = "";
    return;
  }
  const category = state.categories.get(code) || { name: code };
  const line = L.geoJSON(item.path, {
    interactive: false,
    style: { color: "#0d47a1", weight: 5, opacity: 0.85, dashArray: "2 8", lineCap: "round",
             className: "gridmap-route" },
  });
  state.route.addLayer(line);
  if (note) note.textContent = state.text.route(category.name, item.facility.name);
  const bounds = line.getBounds();
  if (bounds.isValid() && !state.map.getBounds().contains(bounds)) {
    state.map.fitBounds(bounds, gridmapPublicPadding(state));
  }
}

function gridmapRenderReach(state, box, answer) {
  const t = state.text;
  const head = gridmapReachHead(state);
  if (!answer.on_network) {
    box.innerHTML = `${head}<div class="gridmap-reach-off">${t.reachOff(answer.max_snap_m)}</div>`;
    return;
  }
  const tiers = new Map(GRIDMAP_PAGE.tiers.map((tier) => [tier.minutes, tier]));
  const rows = [];
  let lastTier = null;
  for (const item of answer.categories) {
    if (item.tier !== lastTier) {
      lastTier = item.tier;
      const tier = tiers.get(item.tier) || { name: item.tier };
      rows.push(`<tr class="gridmap-reach-tier"><td colspan="4">${gridmapEscape(tier.name)}</td></tr>`);
    }
    const category = state.categories.get(item.category)
      || { code: item.category, name: item.category, colour: "#555555", glyph: "?" };
    const reached = item.facility !== null;
    const mark = reached ? (item.within_tier ? "✓" : "✗") : "✗";
    const markTitle = reached && item.within_tier ? t.within(item.tier) : t.outside(item.tier);
    rows.push(`<tr class="gridmap-reach-row ${item.within_tier ? "gridmap-within" : "gridmap-outside"}"`
      + ` data-category="${gridmapEscape(item.category)}"${reached ? ` data-facility="${item.facility.id}"` : ""}>`
      + `<td>${gridmapCategoryBadge(category, "gridmap-badge-small")}</td>`
      + `<td><div class="gridmap-reach-category">${gridmapEscape(category.name)}</div>`
      + `<div class="gridmap-reach-facility">${reached ? gridmapEscape(item.facility.name) : t.reachNone}</div></td>`
      + `<td class="gridmap-reach-distance">${reached ? t.metres(Math.round(item.distance_m)) : "–"}<br>`
      + `${reached ? t.mins(item.minutes.toFixed(1)) : ""}</td>`
      + `<td class="gridmap-reach-mark" title="${gridmapEscape(markTitle)}">${mark}</td></tr>`);
  }
  box.innerHTML = `${head}<div class="gridmap-reach-info">${t.reachInfo(answer.access_m, answer.speed_mps)}</div>`
    + `<div id="gridmap-route-note" class="gridmap-route-note"></div>`
    + `<table class="gridmap-reach-table">${rows.join("")}</table>`;
  // A row draws the walk to its facility and leads to it: the marker out of its cluster, its popup open.
  for (const row of box.querySelectorAll("tr[data-facility]")) {
    row.addEventListener("click", () => {
      gridmapDrawRoute(state, row.dataset.category);
      const found = state.markers.get(Number(row.dataset.facility));
      if (!found || !state.facilities.hasLayer(found.marker)) return;  // its category is filtered out
      state.facilities.zoomToShowLayer(found.marker, () => found.marker.openPopup());
    });
  }
}

// -- search and "locate me" ------------------------------------------------------------------------------------

function gridmapSearch(state) {
  const form = document.getElementById("gridmap-search");
  const input = document.getElementById("gridmap-search-input");
  const list = document.getElementById("gridmap-search-results");
  const t = state.text;
  let timer = null;
  let request = 0;
  let hits = [];
  const go = (feature) => {
    const [lon, lat] = feature.geometry.coordinates;
    list.hidden = true;
    input.value = feature.properties.name || input.value;
    input.blur();  // the phone's keyboard goes away
    const latlng = L.latLng(lat, lon);
    state.map.setView(latlng, Math.max(state.map.getZoom(), 17));
    gridmapReach(state, latlng);
  };
  const show = (features) => {
    hits = features;
    list.innerHTML = "";
    if (!features.length) list.appendChild(gridmapEl("div", { class: "gridmap-search-none", text: t.searchNone }));
    features.forEach((feature) => {
      const p = feature.properties;
      const button = gridmapEl("button", { type: "button", class: "gridmap-search-hit" }, [
        gridmapEl("b", { text: p.name }),
        gridmapEl("span", { class: "gridmap-search-kind",
                            text: [t.kinds[p.kind] || p.kind, p.community].filter(Boolean).join(" · ") }),
      ]);
      button.addEventListener("click", () => go(feature));
      list.appendChild(button);
    });
    list.hidden = false;
  };
  const run = async () => {
    const q = input.value.trim();
    const mine = ++request;
    if (!q) {
      list.hidden = true;
      hits = [];
      return;
    }
    try {
      const answer = await gridmapRequest(`/api/search?q=${encodeURIComponent(q)}&limit=10`, GRIDMAP_PUBLIC_REQUEST);
      if (mine === request) show(answer.features.filter((f) => f.geometry));
    } catch (error) {
      if (mine !== request) return;
      list.innerHTML = "";
      list.appendChild(gridmapEl("div", { class: "gridmap-search-none", text: t.searchFailed }));
      list.hidden = false;
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, 250);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearTimeout(timer);
    await run();
    if (hits.length) go(hits[0]);
  });
  L.DomEvent.disableClickPropagation(form);
}

function gridmapLocateControl(state) {
  const t = state.text;
  const control = L.control({ position: gridmapNarrow() ? "bottomleft" : "topleft" });
  control.onAdd = () => {
    const bar = L.DomUtil.create("div", "leaflet-bar gridmap-locate");
    const button = gridmapEl("a", { href: "#", id: "gridmap-locate", role: "button", title: t.locate,
                                    "aria-label": t.locate, text: "◎" });
    bar.appendChild(button);
    L.DomEvent.disableClickPropagation(bar);
    L.DomEvent.on(button, "click", (event) => {
      L.DomEvent.preventDefault(event);
      gridmapLocate(state);
    });
    return bar;
  };
  control.addTo(state.map);
}

function gridmapLocate(state) {
  const t = state.text;
  const status = document.getElementById("gridmap-status");
  if (!navigator.geolocation) {
    status.textContent = t.locateFailed("—");
    return;
  }
  status.textContent = t.locating;
  navigator.geolocation.getCurrentPosition((position) => {
    status.textContent = state.statusText;
    const latlng = L.latLng(position.coords.latitude, position.coords.longitude);
    state.map.setView(latlng, Math.max(state.map.getZoom(), 16));
    gridmapReach(state, latlng);
  }, (error) => {
    status.textContent = t.locateFailed(error.message);
  }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
}

// -- layout ----------------------------------------------------------------------------------------------------

// Keeps a fitted view clear of the panel: across the top on a phone (and narrow windows), on the left on a desktop.
function gridmapPublicPadding(state) {
  const panel = document.getElementById("gridmap-panel");
  return gridmapNarrow()
    ? gridmapFitPadding(state.map, [10, panel.offsetHeight + 20], [10, 20])
    : gridmapFitPadding(state.map, [panel.offsetWidth + 70, 20], [250, 20]);
}

// -- the page --------------------------------------------------------------------------------------------------

async function gridmapPublic(map) {
  const panel = document.getElementById("gridmap-panel");
  const status = document.getElementById("gridmap-status");
  const text = GRIDMAP_TEXT[GRIDMAP_PAGE.lang] || GRIDMAP_TEXT.zh;
  const state = {
    map, text,
    categories: new Map(GRIDMAP_PAGE.categories.map((c) => [c.code, c])),
    facilities: null, byCategory: new Map(), markers: new Map(), only: "",
    catchment: L.featureGroup(), catchmentRequest: 0,
    communities: null, coverage: { category: "tier_complete", minutes: 15 }, coverageRequest: 0, legend: null,
    here: null, reachRequest: 0, reachAnswer: null, route: L.featureGroup(), statusText: "",
  };
  window.gridmapPublicMap = map;  // for people and tests
  gridmapLanguageLinks(".gridmap-lang-link");  // keep the other parameters (basemap, ...) when switching language
  L.DomEvent.disableClickPropagation(panel);
  L.DomEvent.disableScrollPropagation(panel);
  if (gridmapNarrow() && map.zoomControl) map.zoomControl.setPosition("bottomleft");  // the top is the panel's
  // Catchments above the community shading, below the markers; never in the way of a click.
  map.createPane("gridmap-catchment");
  map.getPane("gridmap-catchment").style.zIndex = 450;
  map.getPane("gridmap-catchment").style.pointerEvents = "none";
  state.catchment.addTo(map);
  state.route.addTo(map);
  gridmapBindSheet(state);
  gridmapSearch(state);
  gridmapLocateControl(state);
  try {
    const [facilities, communities] = await Promise.all([
      gridmapFetchPages("/api/facilities", 1000, GRIDMAP_PUBLIC_REQUEST),
      gridmapFetchPages("/api/communities", 500, GRIDMAP_PUBLIC_REQUEST),
    ]);
    state.communities = L.geoJSON(communities, {
      style: () => gridmapCommunityStyle(null),
      onEachFeature: (f, layer) => layer.bindTooltip(gridmapCoverageTooltip(state, f.properties.name, null),
                                                     { sticky: true }),
    }).addTo(map);
    gridmapDrawFacilities(state, facilities);
    gridmapChips(state);
    L.control.layers(null, { [text.layerCoverage]: state.communities, [text.layerCatchment]: state.catchment },
                     { collapsed: true, position: gridmapNarrow() ? "bottomleft" : "topright" }).addTo(map);
    gridmapLegend(state);
    gridmapCoverageControl(state);
    await gridmapLoadCoverage(state, state.coverage.category, state.coverage.minutes);
    const bounds = state.communities.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, Object.assign({ animate: false }, gridmapPublicPadding(state)));
    map.on("click", (event) => gridmapReach(state, event.latlng));
    state.statusText = text.status(facilities.features.length, communities.features.length);
    status.textContent = state.statusText;
    document.getElementById("gridmap-hint").textContent = text.hint;
    panel.dataset.ready = "true";
  } catch (error) {
    status.textContent = text.error(error.message);
    panel.dataset.ready = "error";
  }
}
