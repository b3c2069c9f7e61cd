// Public service-facility map (社区生活圈) for residents: facilities by category, 5/10/15-minute walking
// catchments, household coverage by community and "what can I reach from here". Everything is fetched from
// public endpoints that carry no personal data; the page's configuration comes in GRIDMAP_PAGE (public_map.py).
"use strict";

const GRIDMAP_TEXT = {
  zh: {
    status: (facilities, communities) => `${facilities} 处设施 · ${communities} 个社区`,
    hint: "点击设施图标查看 5/10/15 分钟步行范围；点击地图空白处，查看从该处步行可达的最近设施。",
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
  },
  en: {
    status: (facilities, communities) => `${facilities} facilities · ${communities} communities`,
    hint: "Click a facility for its 5/10/15-minute walking area; click anywhere else on the map to see "
      + "the nearest facilities you can walk to from there.",
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

// A cluster keeps its category's colour, so a crowd of kindergartens still reads as kindergartens.
function gridmapFacilityClusterIcon(category) {
  return (cluster) => L.divIcon({
    className: "gridmap-facility-cluster",
    html: `<span class="gridmap-badge" style="background:${category.colour}">${cluster.getChildCount()}</span>`
      + `<span class="gridmap-cluster-glyph" style="color:${category.colour}">${gridmapEscape(category.glyph)}</span>`,
    iconSize: [30, 30],
    iconAnchor: [15, 15],
  });
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
  const overlays = {};
  for (const category of GRIDMAP_PAGE.categories) {
    state.groups[category.code] = L.markerClusterGroup({
      maxClusterRadius: 28,
      disableClusteringAtZoom: 17,
      showCoverageOnHover: false,
      iconCreateFunction: gridmapFacilityClusterIcon(category),
    });
  }
  for (const feature of facilities.features) {
    const code = feature.properties.category;
    let category = state.categories.get(code);
    if (!category) {  // a category the registry no longer lists: still shown, under its code
      category = { code, name: code, tier: null, colour: "#555555", glyph: "?" };
      state.categories.set(code, category);
      state.groups[code] = L.markerClusterGroup({ iconCreateFunction: gridmapFacilityClusterIcon(category) });
    }
    if (!feature.geometry) continue;
    const [lon, lat] = feature.geometry.coordinates;
    const marker = L.marker([lat, lon], { icon: gridmapFacilityIcon(category), title: feature.properties.name || "" });
    marker.bindPopup(() => gridmapFacilityPopup(state, feature, category), { minWidth: 220 });
    state.groups[code].addLayer(marker);
    state.markers.set(feature.properties.id, { marker, group: state.groups[code] });
  }
  for (const [code, group] of Object.entries(state.groups)) {
    const category = state.categories.get(code);
    group.addTo(state.map);
    overlays[`${gridmapCategoryBadge(category, "gridmap-badge-small")} ${gridmapEscape(category.name)}`] = group;
  }
  return overlays;
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
  box.innerHTML = `<div class="gridmap-coverage-title">${t.coverageLabel}</div>`
    + `<div class="gridmap-coverage-selects">`
    + `<select id="gridmap-coverage-category" title="${gridmapEscape(t.coverageWhat)}">${categories}</select>`
    + `<select id="gridmap-tier" title="${gridmapEscape(t.coverageTier)}">${tiers}</select></div>`;
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
  state.legend.innerHTML = `<details open><summary>${t.legend}</summary>`
    + `<div class="gridmap-legend-title">${gridmapEscape(title)}</div>`
    + `<div class="gridmap-legend-coverage">${classes}</div>`
    + `<div class="gridmap-legend-title">${t.catchments}</div><div>${catchments}</div>`
    + `<div class="gridmap-legend-title">${t.categories}</div>`
    + `<div class="gridmap-legend-categories">${categories}</div>`
    + "</details>";
}

// -- what can I reach from here --------------------------------------------------------------------------------

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
  box.dataset.ready = "false";
  box.innerHTML = `<div class="gridmap-reach-title">${t.reachTitle}</div><div>${t.reachLoading}</div>`;
  try {
    const lon = latlng.lng.toFixed(7), lat = latlng.lat.toFixed(7);
    const answer = await gridmapRequest(`/api/reach?lon=${lon}&lat=${lat}${gridmapSpeedParam()}`,
                                        GRIDMAP_PUBLIC_REQUEST);
    if (request !== state.reachRequest) return;
    gridmapRenderReach(state, box, answer);
    box.dataset.ready = "true";
  } catch (error) {
    if (request !== state.reachRequest) return;
    box.innerHTML = `<div class="gridmap-reach-title">${t.reachTitle}</div>`
      + `<div>${gridmapEscape(t.error(error.message))}</div>`;
    box.dataset.ready = "error";
  }
}

function gridmapRenderReach(state, box, answer) {
  const t = state.text;
  const head = `<div class="gridmap-reach-title">${t.reachTitle}</div>`;
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
    + `<table class="gridmap-reach-table">${rows.join("")}</table>`;
  // A row leads to its facility: the marker is brought out of its cluster and its popup opened.
  for (const row of box.querySelectorAll("tr[data-facility]")) {
    row.addEventListener("click", () => {
      const found = state.markers.get(Number(row.dataset.facility));
      if (!found || !state.map.hasLayer(found.group)) return;  // its category is switched off
      found.group.zoomToShowLayer(found.marker, () => found.marker.openPopup());
    });
  }
}

// -- the page --------------------------------------------------------------------------------------------------

async function gridmapPublic(map) {
  const panel = document.getElementById("gridmap-panel");
  const status = document.getElementById("gridmap-status");
  const text = GRIDMAP_TEXT[GRIDMAP_PAGE.lang] || GRIDMAP_TEXT.zh;
  const state = {
    map, text,
    categories: new Map(GRIDMAP_PAGE.categories.map((c) => [c.code, c])),
    groups: {}, markers: new Map(),
    catchment: L.featureGroup(), catchmentRequest: 0,
    communities: null, coverage: { category: "tier_complete", minutes: 15 }, coverageRequest: 0, legend: null,
    here: null, reachRequest: 0,
  };
  gridmapLanguageLinks(".gridmap-lang-link");  // keep the other parameters (basemap, ...) when switching language
  L.DomEvent.disableClickPropagation(panel);
  L.DomEvent.disableScrollPropagation(panel);
  // Catchments above the community shading, below the markers; never in the way of a click.
  map.createPane("gridmap-catchment");
  map.getPane("gridmap-catchment").style.zIndex = 450;
  map.getPane("gridmap-catchment").style.pointerEvents = "none";
  state.catchment.addTo(map);
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
    const overlays = gridmapDrawFacilities(state, facilities);
    // Object.assign rather than object spread: the pages stay plain ES2017.
    const layers = Object.assign({ [text.layerCoverage]: state.communities, [text.layerCatchment]: state.catchment },
                                 overlays);
    L.control.layers(null, layers, { collapsed: true, position: "topright" }).addTo(map);
    gridmapLegend(state);
    gridmapCoverageControl(state);
    await gridmapLoadCoverage(state, state.coverage.category, state.coverage.minutes);
    const bounds = state.communities.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { paddingTopLeft: [380, 20], paddingBottomRight: [250, 20] });
    map.on("click", (event) => gridmapReach(state, event.latlng));
    status.textContent = text.status(facilities.features.length, communities.features.length);
    document.getElementById("gridmap-reach").innerHTML = `<div class="gridmap-hint">${text.hint}</div>`;
    panel.dataset.ready = "true";
  } catch (error) {
    status.textContent = text.error(error.message);
    panel.dataset.ready = "error";
  }
}
