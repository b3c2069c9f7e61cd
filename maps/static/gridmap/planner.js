// The planner's grid editor (maps/planner_map.py): one plan's grids coloured by households against the plan's
// band, buildings as vector tiles, validation findings, and the edits of /api/plans/{id}/… Every edit carries
// If-Match with the version the page shows; a 412 (someone else edited the draft) reloads the plan and keeps
// the user's selection and drawing so the edit can simply be retried.
"use strict";

const GRIDMAP_PLANNER_COLOURS = {
  under: "#6baed6", within: "#74c476", over: "#fd8d3c",
  outline: "#525252", selected: "#08306b", drawn: "#6a3d9a", error: "#e31a1c", warning: "#ff7f00",
  changed: "#7a0177", building: "#525252", picked: "#d7301f", proposal: "#084594", compound: "#e7298a",
};
const GRIDMAP_PLANNER_LABEL_ZOOM = 16;  // permanent code/household labels from this zoom on (they crowd below)
const GRIDMAP_PLANNER_EDITS = ["merge", "split", "redraw", "balance", "undo", "redo", "set-band", "publish"];
const GRIDMAP_PLANNER_BUILDING_ZOOM = 15;  // buildings are picked from this zoom on (fewer would crowd the page)
const GRIDMAP_PLANNER_BUILDING_LIMIT = 5000;

// Never from the browser's cache: after an edit (ours or another planner's) plans and grids are read afresh.
function gridmapPlannerRequest(url, options) {
  return gridmapRequest(url, Object.assign({ cache: "no-store" }, options || {}));
}

function gridmapPlannerEl(id) {
  return document.getElementById(`gridmap-planner-${id}`);
}

// -- state -----------------------------------------------------------------------------------------------------

function gridmapPlannerState(map) {
  const page = typeof GRIDMAP_PAGE !== "undefined" ? GRIDMAP_PAGE : {};  // the page's inline configuration
  return {
    map,
    lang: page.lang || "zh",
    panel: document.getElementById("gridmap-panel"),
    labels: page.labels,
    planId: page.plan,
    defaultBand: page.band || [300, 500],
    plan: null,
    version: null,
    grids: [],                  // GeoJSON features of the plan's grids
    byId: new Map(),            // grid id → feature
    layers: new Map(),          // grid id → Leaflet path
    gridLayer: L.featureGroup().addTo(map),
    findingLayer: L.featureGroup().addTo(map),
    drawnLayer: L.featureGroup().addTo(map),
    diffLayer: L.featureGroup().addTo(map),  // grids that differ from the current plan, while the diff is shown
    proposalLayer: L.featureGroup().addTo(map),  // a rebalance preview's grids until applied or discarded
    buildingLayer: L.featureGroup(),  // buildings to pick while reassigning (on the map only then)
    picking: false,             // reassigning: clicks pick buildings, a click on a grid makes it the target
    picked: new Map(),          // building id → {households}: the buildings to reassign
    target: null,               // the grid they go to
    proposal: null,             // {body, answer}: the rebalance preview shown
    history: null,              // the plan's operation log (GET …/operations)
    selection: [],              // grid ids in click order: a merge keeps the first one's code
    validation: null,
    communities: {},            // community code → name
    busy: false,
    drawing: null,              // {kind, grid, handler} while Leaflet.draw is active
    drawn: null,                // {kind, grid, layer}: the geometry of a split/redraw until it is applied
    pending: null,              // {kind, body}: the edit a version conflict refused, for "Retry"
    readOnly: gridmapNarrow(),  // a phone: the plan is shown, editing needs a tablet or a computer
  };
}

function gridmapPlannerBand(state) {
  const plan = state.plan || {};
  return {
    min: plan.min_households != null ? plan.min_households : state.defaultBand[0],
    max: plan.max_households != null ? plan.max_households : state.defaultBand[1],
  };
}

function gridmapPlannerEditable(state) {
  return Boolean(state.plan && state.plan.status === "draft" && !state.readOnly);
}

// -- drawing the grids -------------------------------------------------------------------------------------------

function gridmapPlannerBandClass(households, band) {
  if (households < band.min) return "under";
  if (households > band.max) return "over";
  return "within";
}

function gridmapPlannerStyle(state, feature) {
  const selected = state.selection.includes(feature.id) || (state.picking && state.target === feature.id);
  const band = gridmapPlannerBand(state);
  return {
    color: selected ? GRIDMAP_PLANNER_COLOURS.selected : GRIDMAP_PLANNER_COLOURS.outline,
    weight: selected ? 4 : 1,
    fillColor: GRIDMAP_PLANNER_COLOURS[gridmapPlannerBandClass(feature.properties.households || 0, band)],
    fillOpacity: selected ? 0.6 : 0.35,
  };
}

function gridmapPlannerLabel(state, feature) {
  const p = feature.properties;
  return `<span class="gp-label-code">${gridmapEscape(p.code)}</span><br>` +
    `<b>${gridmapEscape(p.households)}</b> ${gridmapEscape(state.labels.households)}`;
}

// Permanent labels only when zoomed in; a hover tooltip otherwise.
function gridmapPlannerBindLabels(state) {
  const permanent = state.map.getZoom() >= GRIDMAP_PLANNER_LABEL_ZOOM;
  for (const [id, layer] of state.layers) {
    const tooltip = layer.getTooltip();
    if (tooltip && tooltip.options.permanent === permanent) continue;
    layer.unbindTooltip();
    layer.bindTooltip(gridmapPlannerLabel(state, state.byId.get(id)), {
      permanent, direction: "center", sticky: !permanent,
      className: permanent ? "gridmap-planner-label" : "gridmap-planner-hover",
    });
  }
}

function gridmapPlannerDrawGrids(state) {
  state.gridLayer.clearLayers();
  state.layers.clear();
  L.geoJSON({ type: "FeatureCollection", features: state.grids }, {
    style: (feature) => gridmapPlannerStyle(state, feature),
    onEachFeature: (feature, layer) => {
      // Set before the path is created (addLayer below): a class per grid lets tests and CSS find it.
      layer.options.className = `gridmap-grid gridmap-grid-${feature.id}`;
      layer.on("click", (event) => {
        L.DomEvent.stopPropagation(event);
        if (state.drawing) return;
        if (state.picking) gridmapPlannerSetTarget(state, feature.id);
        else gridmapPlannerToggle(state, feature.id);
      });
      state.layers.set(feature.id, layer);
    },
  }).eachLayer((layer) => state.gridLayer.addLayer(layer));
  gridmapPlannerBindLabels(state);
  gridmapPlannerRestyle(state);
}

function gridmapPlannerRestyle(state) {
  for (const [id, layer] of state.layers) {
    layer.setStyle(gridmapPlannerStyle(state, state.byId.get(id)));
    const element = layer.getElement();
    if (element) element.classList.toggle("gridmap-grid-selected", state.selection.includes(id));
    if (state.selection.includes(id)) layer.bringToFront();
  }
}

function gridmapPlannerDrawFindings(state) {
  state.findingLayer.clearLayers();
  const findings = state.validation ? [...state.validation.errors, ...state.validation.warnings] : [];
  for (const finding of findings) {
    if (!finding.geometry) continue;
    const colour = finding.severity === "error" ? GRIDMAP_PLANNER_COLOURS.error : GRIDMAP_PLANNER_COLOURS.warning;
    // Not interactive: a finding must never swallow the click meant for the grid under it.
    finding.layer = L.geoJSON(finding.geometry, {
      style: { color: colour, weight: 3, dashArray: "6 4", fillColor: colour, fillOpacity: 0.15, interactive: false,
               className: `gridmap-finding gridmap-finding-${finding.severity}` },
      pointToLayer: (feature, latlng) => L.circleMarker(latlng, {
        radius: 7, color: colour, weight: 2, fillOpacity: 0.5, interactive: false,
        className: `gridmap-finding gridmap-finding-${finding.severity}`,
      }),
    }).addTo(state.findingLayer);
  }
}

// -- the panel ---------------------------------------------------------------------------------------------------

function gridmapPlannerShowPlan(state) {
  const t = state.labels;
  const plan = state.plan;
  const status = t.status[plan.status] || plan.status;
  gridmapPlannerEl("plan").innerHTML =
    `${gridmapEscape(t.plan)} #${plan.id} <b>${gridmapEscape(plan.name)}</b> ` +
    `<span class="gp-status gp-status-${gridmapEscape(plan.status)}">${gridmapEscape(status)}</span> ` +
    `<span class="gp-version">${gridmapEscape(t.version)} v${state.version}</span>`;
  state.panel.dataset.version = String(state.version);
  state.panel.dataset.status = plan.status;
  const households = state.grids.reduce((sum, f) => sum + (f.properties.households || 0), 0);
  const summary = gridmapPlannerEl("summary");
  summary.textContent = gridmapFormat(t.summary, { grids: state.grids.length, households });
  summary.dataset.grids = String(state.grids.length);
  const band = gridmapPlannerBand(state);
  gridmapPlannerEl("legend").innerHTML = ["under", "within", "over"].map((cls) =>
    `<span class="gp-swatch" style="background:${GRIDMAP_PLANNER_COLOURS[cls]}"></span>` +
    gridmapEscape(gridmapFormat(t[`legend_${cls}`], band))).join(" ");
  const draft = gridmapPlannerEl("draft");
  draft.hidden = gridmapPlannerEditable(state) || state.readOnly;
  if (!draft.hidden) {
    gridmapPlannerEl("draft-note").textContent = plan.status === "retired" ? t.retired_note : t.published_note;
    const name = gridmapPlannerEl("draft-name");
    if (!name.value) name.value = gridmapFormat(t.draft_default, { name: plan.name });
  }
}

function gridmapPlannerShowSelection(state) {
  const t = state.labels;
  const list = gridmapPlannerEl("selection");
  list.replaceChildren();
  if (!state.selection.length) {
    const empty = document.createElement("li");
    empty.className = "gp-empty";
    empty.textContent = t.selection_empty;
    list.append(empty);
  }
  state.selection.forEach((id, index) => {
    const p = state.byId.get(id).properties;
    const item = document.createElement("li");
    item.dataset.grid = String(id);
    const text = document.createElement("span");
    text.textContent = `${p.code} · ${p.households} ${t.households}` + (p.name ? ` · ${p.name}` : "") +
      (index === 0 && state.selection.length > 1 ? ` (${t.keeps_code})` : "");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "gp-link";
    remove.textContent = "×";
    remove.title = t.remove;
    remove.addEventListener("click", () => gridmapPlannerToggle(state, id));
    item.append(text, remove);
    list.append(item);
  });
}

function gridmapPlannerShowValidation(state) {
  const t = state.labels;
  const summary = gridmapPlannerEl("validation");
  const list = gridmapPlannerEl("findings");
  list.replaceChildren();
  const v = state.validation;
  if (!v) {
    summary.textContent = t.validation_loading;
    return;
  }
  summary.dataset.errors = String(v.errors.length);
  summary.dataset.warnings = String(v.warnings.length);
  summary.textContent = v.errors.length || v.warnings.length
    ? gridmapFormat(t.validation_summary, { errors: v.errors.length, warnings: v.warnings.length })
    : t.validation_ok;
  for (const finding of [...v.errors, ...v.warnings]) {
    const item = document.createElement("li");
    item.className = `gp-finding gp-finding-${finding.severity}`;
    item.dataset.type = finding.type;
    const kind = t.findings[finding.type] || finding.type;
    const severity = finding.severity === "error" ? t.error : t.warning;
    item.textContent = `[${severity}] ${kind}` + (finding.grids.length ? ` · ${finding.grids.join(", ")}` : "") +
      ` — ${finding.message}`;
    const bounds = gridmapPlannerFindingBounds(state, finding);
    if (bounds) {  // every finding with a place (its geometry, else its grids) zooms the map there
      item.classList.add("gp-clickable");
      item.addEventListener("click", () => state.map.fitBounds(bounds, { maxZoom: 17 }));
    }
    list.append(item);
  }
}

function gridmapPlannerFindingBounds(state, finding) {
  if (finding.layer && finding.layer.getBounds().isValid()) return finding.layer.getBounds();
  const group = L.featureGroup();
  for (const [id, layer] of state.layers) {
    if (finding.grids.includes(state.byId.get(id).properties.code)) group.addLayer(layer);
  }
  const bounds = group.getLayers().length ? group.getBounds() : null;
  return bounds && bounds.isValid() ? bounds : null;
}

// -- the diff against the current plan ----------------------------------------------------------------------------

function gridmapPlannerClearDiff(state) {
  state.diffLayer.clearLayers();
  const box = gridmapPlannerEl("diff-result");
  box.replaceChildren();
  box.hidden = true;
}

async function gridmapPlannerShowDiff(state) {
  const t = state.labels;
  gridmapPlannerClearDiff(state);
  const box = gridmapPlannerEl("diff-result");
  try {
    const plans = await gridmapPlannerRequest("/api/plans");
    const current = plans.find((p) => p.status === "published");
    if (!current || current.id === state.plan.id) {
      box.append(gridmapEl("p", { class: "gp-note", text: t.diff_same }));
      box.hidden = false;
      return;
    }
    const diff = await gridmapPlannerRequest(`/api/plans/${state.planId}/diff?against=${current.id}`);
    box.dataset.against = String(current.id);
    box.append(gridmapEl("b", { text: gridmapFormat(t.diff_title, { against: current.id }) }));
    if (!diff.grids.length && !(diff.compounds_split || []).length) {
      box.append(gridmapEl("p", { class: "gp-note", text: t.diff_none }));
      box.hidden = false;
      return;
    }
    const moved = diff.grids.reduce((sum, g) => sum + g.households_in, 0);
    box.append(gridmapEl("p", { class: "gp-note", text: gridmapFormat(t.diff_summary, {
      grids: diff.grids.length, households: moved }) }));
    const table = document.createElement("table");
    const head = document.createElement("tr");
    for (const title of t.diff_head) head.append(gridmapEl("th", { text: title }));
    table.append(head);
    for (const grid of diff.grids) {
      const code = grid.code || grid.previous_code;
      const recoded = grid.code && grid.previous_code && grid.code !== grid.previous_code
        ? ` (${gridmapFormat(t.diff_recoded, { code: grid.previous_code })})` : "";
      const row = document.createElement("tr");
      row.className = `gp-diff-row gp-diff-${grid.status} gp-clickable`;
      row.dataset.code = code;
      const cells = [code + recoded, t.diff_status[grid.status] || grid.status,
        `${grid.previous_households} → ${grid.households}`, `+${grid.households_in}`, `−${grid.households_out}`,
        `+${grid.buildings_in}`, `−${grid.buildings_out}`];
      for (const text of cells) row.append(gridmapEl("td", { text }));
      // Changed grids are outlined on the map; a row zooms to its grid.
      const layer = L.geoJSON(grid.geometry, {
        style: { color: GRIDMAP_PLANNER_COLOURS.changed, weight: 4, fill: false, interactive: false,
                 dashArray: grid.status === "removed" ? "4 4" : null,
                 className: `gridmap-diff gridmap-diff-${grid.status}` },
      }).addTo(state.diffLayer);
      row.addEventListener("click", () => state.map.fitBounds(layer.getBounds(), { maxZoom: 17 }));
      table.append(row);
    }
    box.append(table);
    gridmapPlannerDiffCompounds(state, box, diff.compounds_split || []);
    box.hidden = false;
  } catch (error) {
    gridmapPlannerMessage(state, "error", [gridmapFormat(t.load_failed, { detail: error.message })]);
  }
}

// Compounds the draft splits that the current plan keeps in one grid: listed, outlined, a click zooms there.
function gridmapPlannerDiffCompounds(state, box, compounds) {
  const t = state.labels;
  if (!compounds.length) return;
  box.append(gridmapEl("p", { class: "gp-subtitle", text: t.diff_compounds }));
  const list = gridmapEl("ul", { class: "gp-diff-compounds" });
  for (const compound of compounds) {
    const layer = L.geoJSON(compound.geometry, {
      style: { color: GRIDMAP_PLANNER_COLOURS.compound, weight: 2, dashArray: "3 3", fillOpacity: 0.1,
               interactive: false, className: "gridmap-diff-compound" },
    }).addTo(state.diffLayer);
    const item = gridmapEl("li", { class: "gp-clickable", "data-compound": compound.compound, text: gridmapFormat(
      t.diff_compound, { compound: compound.compound, households: compound.households,
                         grids: compound.grids.join(", ") }) });
    item.addEventListener("click", () => state.map.fitBounds(layer.getBounds(), { maxZoom: 18 }));
    list.append(item);
  }
  box.append(list);
}

// -- reassigning buildings -----------------------------------------------------------------------------------------

// Area-weighted centroid of a (Multi)Polygon's outer rings in lon/lat: what a lasso must contain to pick a building.
// Computed relative to the first vertex: products of raw degrees (121 × 29) lose the footprint's size to rounding.
function gridmapPlannerCentroid(geometry) {
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  const [x0, y0] = polygons[0][0][0];
  let area = 0, x = 0, y = 0;
  for (const rings of polygons) {
    const ring = rings[0].map(([lon, lat]) => [lon - x0, lat - y0]);
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const cross = ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
      area += cross;
      x += (ring[j][0] + ring[i][0]) * cross;
      y += (ring[j][1] + ring[i][1]) * cross;
    }
  }
  if (area === 0) return [x0, y0];
  return [x0 + x / (3 * area), y0 + y / (3 * area)];
}

// Even-odd ray casting against the lasso's rings ([lon, lat] pairs).
function gridmapPlannerInside(point, rings) {
  let inside = false;
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if ((yi > point[1]) !== (yj > point[1]) && point[0] < ((xj - xi) * (point[1] - yi)) / (yj - yi) + xi) {
        inside = !inside;
      }
    }
  }
  return inside;
}

function gridmapPlannerBuildingStyle(state, id) {
  const picked = state.picked.has(id);
  return {
    color: picked ? GRIDMAP_PLANNER_COLOURS.picked : GRIDMAP_PLANNER_COLOURS.building,
    weight: picked ? 2 : 0.7, fillColor: GRIDMAP_PLANNER_COLOURS.picked, fillOpacity: picked ? 0.55 : 0.02,
  };
}

// The buildings in view (from GRIDMAP_PLANNER_BUILDING_ZOOM on), clickable; picked ones stay picked across loads.
async function gridmapPlannerLoadBuildings(state) {
  const t = state.labels;
  state.buildingLayer.clearLayers();
  if (!state.picking) return;
  if (state.map.getZoom() < GRIDMAP_PLANNER_BUILDING_ZOOM) {
    gridmapPlannerMessage(state, "info", [t.reassign_zoom]);
    return;
  }
  const b = state.map.getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",");
  const page = await gridmapPlannerRequest(`/api/buildings?bbox=${bbox}&limit=${GRIDMAP_PLANNER_BUILDING_LIMIT}`);
  if (!state.picking) return;
  state.buildingLayer.clearLayers();
  L.geoJSON(page, {
    pane: "gridmapPlannerBuildings",  // above the grids, which are redrawn after every edit
    style: (feature) => gridmapPlannerBuildingStyle(state, feature.id),
    onEachFeature: (feature, layer) => {
      layer.options.className = `gridmap-building gridmap-building-${feature.id}`;
      feature.centroid = gridmapPlannerCentroid(feature.geometry);
      layer.on("click", (event) => {
        L.DomEvent.stopPropagation(event);
        if (!state.drawing) gridmapPlannerPick(state, [feature], !state.picked.has(feature.id));
      });
    },
  }).eachLayer((layer) => state.buildingLayer.addLayer(layer));
  state.panel.dataset.buildings = String(state.buildingLayer.getLayers().length);
}

function gridmapPlannerPick(state, features, on) {
  for (const feature of features) {
    if (on) state.picked.set(feature.id, { households: feature.properties.households || 0 });
    else state.picked.delete(feature.id);
  }
  gridmapPlannerShowPicked(state);
}

function gridmapPlannerShowPicked(state) {
  const t = state.labels;
  state.buildingLayer.eachLayer((layer) => layer.setStyle(gridmapPlannerBuildingStyle(state, layer.feature.id)));
  const households = [...state.picked.values()].reduce((sum, b) => sum + b.households, 0);
  const box = gridmapPlannerEl("buildings");
  box.dataset.count = String(state.picked.size);
  box.dataset.ids = [...state.picked.keys()].sort((a, b) => a - b).join(",");
  box.textContent = state.picked.size ? gridmapFormat(t.reassign_count, { count: state.picked.size, households }) : "";
  gridmapPlannerControls(state);
}

function gridmapPlannerLassoed(state, layer) {
  const rings = layer.toGeoJSON().geometry.coordinates;
  const inside = [];
  state.buildingLayer.eachLayer((building) => {
    if (gridmapPlannerInside(building.feature.centroid, rings)) inside.push(building.feature);
  });
  gridmapPlannerPick(state, inside, true);
  gridmapPlannerMessage(state, "info", []);
  gridmapPlannerControls(state);
}

function gridmapPlannerSetTarget(state, id) {
  state.target = state.byId.has(id) ? id : null;
  gridmapPlannerEl("target").value = state.target != null ? String(state.target) : "";
  gridmapPlannerRestyle(state);
  gridmapPlannerControls(state);
}

// The picker lists the plan's grids by code; the target is kept when it survives a reload.
function gridmapPlannerTargets(state) {
  const select = gridmapPlannerEl("target");
  select.replaceChildren(gridmapEl("option", { value: "", text: state.labels.reassign_pick }));
  const grids = [...state.grids].sort((a, b) => String(a.properties.code).localeCompare(String(b.properties.code)));
  for (const f of grids) {
    select.append(gridmapEl("option", { value: String(f.id),
      text: `${f.properties.code} · ${f.properties.households} ${state.labels.households}` }));
  }
  if (!state.byId.has(state.target)) state.target = null;
  select.value = state.target != null ? String(state.target) : "";
}

async function gridmapPlannerTogglePicking(state) {
  const t = state.labels;
  state.picking = !state.picking;
  gridmapPlannerEl("reassign-mode").textContent = state.picking ? t.reassign_stop : t.reassign_mode;
  state.panel.dataset.picking = String(state.picking);
  if (state.picking) state.buildingLayer.addTo(state.map);
  else {
    state.buildingLayer.remove();
    state.target = null;
    gridmapPlannerEl("target").value = "";
  }
  gridmapPlannerRestyle(state);
  gridmapPlannerControls(state);
  try {
    await gridmapPlannerLoadBuildings(state);
  } catch (error) {
    gridmapPlannerMessage(state, "error", [gridmapFormat(t.load_failed, { detail: error.message })]);
  }
  gridmapPlannerControls(state);
}

function gridmapPlannerReassign(state) {
  if (state.target == null || !state.picked.size) return;
  const buildings = [...state.picked.keys()].sort((a, b) => a - b);
  gridmapPlannerEdit(state, "reassign", { grid: state.target, buildings });
}

// -- rebalance preview --------------------------------------------------------------------------------------------

function gridmapPlannerBalanceBody() {
  return {
    community: gridmapPlannerEl("community").value,
    min_households: Number(gridmapPlannerEl("min").value),
    max_households: Number(gridmapPlannerEl("max").value),
  };
}

function gridmapPlannerClearProposal(state) {
  state.proposal = null;
  state.proposalLayer.clearLayers();
  const box = gridmapPlannerEl("proposal");
  box.replaceChildren();
  box.hidden = true;
  delete box.dataset.token;
}

async function gridmapPlannerPreview(state) {
  const t = state.labels;
  if (state.busy) return;
  const body = gridmapPlannerBalanceBody();
  gridmapPlannerClearProposal(state);
  state.busy = true;
  gridmapPlannerControls(state);
  try {
    const answer = await gridmapPlannerRequest(`/api/plans/${state.planId}/balance/preview`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    state.proposal = { body, answer };
    gridmapPlannerShowProposal(state);
    gridmapPlannerMessage(state, "info", []);
  } catch (error) {
    gridmapPlannerMessage(state, "error", [gridmapFormat(t.failed, { detail: error.message })]);
  } finally {
    state.busy = false;
    gridmapPlannerControls(state);
  }
}

function gridmapPlannerShowProposal(state) {
  const t = state.labels;
  const { body, answer } = state.proposal;
  const box = gridmapPlannerEl("proposal");
  box.dataset.token = answer.token;
  box.dataset.version = String(answer.version);
  box.append(gridmapEl("b", { text: gridmapFormat(t.proposal_title, {
    community: body.community, min: answer.band.min_households, max: answer.band.max_households }) }));
  const band = { min: answer.band.min_households, max: answer.band.max_households };
  const table = gridmapEl("table", {}, [gridmapEl("tr", {}, t.proposal_head.map((h) => gridmapEl("th", { text: h })))]);
  for (const feature of answer.grids.features) {
    const p = feature.properties;
    const colour = GRIDMAP_PLANNER_COLOURS[gridmapPlannerBandClass(p.households, band)];
    const layer = L.geoJSON(feature.geometry, {
      style: { color: GRIDMAP_PLANNER_COLOURS.proposal, weight: 3, dashArray: "6 3", fillColor: colour,
               fillOpacity: 0.45, interactive: false, className: "gridmap-proposal" },
    }).addTo(state.proposalLayer);
    const change = p.grid == null ? t.proposal_new : p.changed ? t.proposal_changed : t.proposal_same;
    const row = gridmapEl("tr", { class: `gp-proposal-row gp-clickable${p.changed ? " gp-proposal-changed" : ""}`,
                                  "data-part": String(p.part) }, [
      gridmapEl("td", { text: p.code || t.proposal_new }), gridmapEl("td", { text: String(p.households) }),
      gridmapEl("td", { text: String(p.buildings) }),
      gridmapEl("td", { text: p.compactness == null ? "–" : p.compactness.toFixed(2) }), gridmapEl("td", { text: change }),
    ]);
    row.addEventListener("click", () => state.map.fitBounds(layer.getBounds(), { maxZoom: 17 }));
    table.append(row);
  }
  box.append(table);
  if (answer.removed.length) {
    box.append(gridmapEl("p", { class: "gp-note", text: gridmapFormat(t.proposal_removed, { count: answer.removed.length }) }));
  }
  box.append(gridmapEl("p", { class: "gp-subtitle", text: t.proposal_split }));
  if (answer.split_compounds.length) {
    box.append(gridmapEl("ul", { class: "gp-proposal-split" }, answer.split_compounds.map((c) => gridmapEl("li", {
      "data-compound": c.compound, text: gridmapFormat(t.proposal_split_item, c) }))));
  } else {
    box.append(gridmapEl("p", { class: "gp-note", text: t.proposal_no_split }));
  }
  if (!answer.balance.satisfied) {
    box.append(gridmapEl("p", { class: "gp-reason", text: `${t.proposal_problems} ${answer.balance.problems.join("; ")}` }));
  }
  const apply = gridmapEl("button", { type: "button", id: "gridmap-planner-proposal-apply", class: "gp-btn gp-primary",
                                      text: t.apply });
  const discard = gridmapEl("button", { type: "button", id: "gridmap-planner-proposal-discard", class: "gp-btn",
                                        text: t.discard });
  apply.addEventListener("click", () => {
    const proposal = state.proposal;
    if (proposal) gridmapPlannerEdit(state, "balance", Object.assign({}, proposal.body, { token: proposal.answer.token }));
  });
  discard.addEventListener("click", () => {
    gridmapPlannerClearProposal(state);
    gridmapPlannerMessage(state, "info", [t.discarded]);
    gridmapPlannerControls(state);
  });
  box.append(gridmapEl("div", { class: "gp-row" }, [apply, discard]));
  box.hidden = false;
  const bounds = state.proposalLayer.getBounds();
  if (bounds.isValid()) state.map.fitBounds(bounds, { maxZoom: 17 });
}

// -- operation history --------------------------------------------------------------------------------------------

function gridmapPlannerShowHistory(state) {
  const t = state.labels;
  const list = gridmapPlannerEl("history");
  list.replaceChildren();
  if (!state.history) return;
  const log = state.history;
  if (!log.length) list.append(gridmapEl("li", { class: "gp-empty", text: t.history_empty }));
  for (const op of log) {
    const when = new Date(op.at);
    const time = Number.isNaN(when.getTime()) ? op.at : when.toLocaleString(state.lang === "zh" ? "zh-CN" : "en-GB");
    const what = t.kinds[op.kind] || op.kind;
    const target = op.kind === "undo" || op.kind === "redo" ? ` #${op.payload.undoes || op.payload.redoes}` : "";
    const moved = op.households_moved || op.units_moved
      ? ` · ${gridmapFormat(t.history_moved, { households: op.households_moved })}` : "";
    const item = gridmapEl("li", {
      class: `gp-op${op.undone ? " gp-op-undone" : ""}${op.current ? " gp-op-current" : ""}`,
      "data-seq": String(op.seq), "data-kind": op.kind, "data-current": String(op.current),
      "data-undone": String(op.undone), title: time,
      text: `#${op.seq} ${what}${target} · ${op.actor} · ${time}${moved}`,
    });
    if (op.current) item.append(gridmapEl("span", { class: "gp-op-mark", text: ` ◀ ${t.history_current}` }));
    list.append(item);
  }
  const current = list.querySelector(".gp-op-current");  // in view within the list, not the page scrolled to it
  if (current) list.scrollTop = Math.max(0, current.offsetTop - list.offsetTop - list.clientHeight / 2);
}

async function gridmapPlannerLoadHistory(state) {
  if (!state.planId || !gridmapPlannerEl("history-box").open) return;
  try {
    state.history = await gridmapPlannerRequest(`/api/plans/${state.planId}/operations`);
  } catch (error) {
    state.history = null;
    gridmapPlannerMessage(state, "error", [gridmapFormat(state.labels.load_failed, { detail: error.message })]);
  }
  gridmapPlannerShowHistory(state);
  gridmapPlannerControls(state);
}

// What undo and redo would act on, as the log says (gis/plans/edits.py): the newest edit in effect; the newest
// undo still in effect with no edit after it.
function gridmapPlannerUndoRedo(state) {
  if (!state.history) return { undo: true, redo: true };  // not known: let the server say
  const edits = state.history.filter((op) => !["create", "undo", "redo", "publish"].includes(op.kind));
  const lastEdit = edits.length ? edits[edits.length - 1].seq : 0;
  return {
    undo: edits.some((op) => !op.undone),
    redo: state.history.some((op) => op.kind === "undo" && !op.undone && op.seq > lastEdit),
  };
}

// kind: "info" | "ok" | "error" | "conflict"; lines are text (never HTML); retry adds a "Retry" button.
function gridmapPlannerMessage(state, kind, lines, retry) {
  const box = gridmapPlannerEl("message");
  box.replaceChildren();
  if (!lines || !lines.length) {
    box.hidden = true;
    delete box.dataset.kind;
    return;
  }
  for (const line of lines) {
    const p = document.createElement("p");
    p.textContent = line;
    box.append(p);
  }
  if (retry) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = "gridmap-planner-retry";
    button.className = "gp-btn gp-primary";
    button.textContent = state.labels.retry;
    button.addEventListener("click", retry);
    box.append(button);
  }
  box.dataset.kind = kind;
  box.hidden = false;
}

function gridmapPlannerControls(state) {
  const editable = gridmapPlannerEditable(state) && !state.busy && !state.drawing;
  const n = state.selection.length;
  const errors = state.validation ? state.validation.errors.length : 1;
  const enabled = {
    merge: editable && n >= 2,
    split: editable && n === 1,
    redraw: editable && n === 1,
    balance: editable && Boolean(gridmapPlannerEl("community").value),
    undo: editable && gridmapPlannerUndoRedo(state).undo,
    redo: editable && gridmapPlannerUndoRedo(state).redo,
    "set-band": editable,
    publish: editable && errors === 0,
  };
  for (const name of GRIDMAP_PLANNER_EDITS) gridmapPlannerEl(name).disabled = !enabled[name];
  // Publish disabled by validation errors says why, naming the first finding (e.g. the grid above the band).
  const blocked = gridmapPlannerEditable(state) && state.validation && state.validation.errors.length;
  const reason = blocked
    ? gridmapFormat(state.labels.publish_reason, { detail: state.validation.errors[0].message }) : "";
  gridmapPlannerEl("publish").title = blocked ? `${state.labels.publish_blocked} ${reason}` : "";
  const reasonBox = gridmapPlannerEl("publish-reason");
  reasonBox.textContent = reason;
  reasonBox.hidden = !blocked;
  gridmapPlannerEl("diff").disabled = state.busy || !state.plan || state.plan.status !== "draft";
  gridmapPlannerEl("preview").disabled = !enabled.balance;
  const proposalApply = gridmapPlannerEl("proposal-apply");
  if (proposalApply) proposalApply.disabled = !editable;
  gridmapPlannerEl("reassign-mode").disabled = !editable;
  gridmapPlannerEl("lasso").disabled = !editable || !state.picking || !state.buildingLayer.getLayers().length;
  gridmapPlannerEl("target").disabled = !editable || !state.picking;
  gridmapPlannerEl("reassign-apply").disabled = !editable || !state.picking || !state.picked.size || state.target == null;
  gridmapPlannerEl("reassign-clear").disabled = !state.picked.size;
  for (const name of ["community", "min", "max"]) gridmapPlannerEl(name).disabled = !editable;
  gridmapPlannerEl("clear").disabled = !n || Boolean(state.drawing);
  gridmapPlannerEl("drawing").hidden = !state.drawing;
  gridmapPlannerEl("finish").disabled = !state.drawing;
  gridmapPlannerEl("cancel").disabled = !state.drawing;
  gridmapPlannerEl("create-draft").disabled = state.busy || !state.plan || gridmapPlannerEditable(state);
  const retry = gridmapPlannerEl("retry");
  if (retry) retry.disabled = state.busy || !gridmapPlannerEditable(state);
  state.panel.dataset.busy = String(state.busy);
}

function gridmapPlannerCommunities(state) {
  const select = gridmapPlannerEl("community");
  const previous = select.value;
  const codes = [...new Set(state.grids.map((f) => f.properties.community_code).filter(Boolean))].sort();
  select.replaceChildren();
  for (const code of codes) {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = state.communities[code] ? `${state.communities[code]} (${code})` : code;
    select.append(option);
  }
  if (codes.includes(previous)) select.value = previous;
  const band = gridmapPlannerBand(state);
  if (!gridmapPlannerEl("min").value) gridmapPlannerEl("min").value = band.min;
  if (!gridmapPlannerEl("max").value) gridmapPlannerEl("max").value = band.max;
}

// -- selection ---------------------------------------------------------------------------------------------------

function gridmapPlannerToggle(state, id) {
  if (!state.byId.has(id) || state.readOnly) return false;
  const index = state.selection.indexOf(id);
  if (index >= 0) state.selection.splice(index, 1);
  else state.selection.push(id);
  gridmapPlannerRestyle(state);
  gridmapPlannerShowSelection(state);
  gridmapPlannerControls(state);
  return state.selection.includes(id);
}

function gridmapPlannerClearDrawn(state) {
  state.drawnLayer.clearLayers();
  state.drawn = null;
}

// -- loading -----------------------------------------------------------------------------------------------------

async function gridmapPlannerResolvePlan(state) {
  if (state.planId != null) return state.planId;
  const plans = await gridmapPlannerRequest("/api/plans");
  const current = plans.find((p) => p.status === "published");
  if (!current) throw new Error(state.labels.no_current);
  return current.id;
}

// The plan at `atLeast` or newer. The API may answer an edit a moment before its transaction is visible to
// the next request, so a read right after our own edit can still show the previous version: ask again.
async function gridmapPlannerFetchPlan(state, atLeast) {
  for (let attempt = 0; ; attempt++) {
    const plan = await gridmapPlannerRequest(`/api/plans/${state.planId}`);
    if (atLeast == null || plan.version >= atLeast || attempt >= 20) return plan;
    await gridmapSleep(100 + 50 * attempt);
  }
}

// The plan (its version) is read before its grids: the grids shown are then never older than the version
// edits are sent with, so an edit is never accepted against a layout the page has not shown.
async function gridmapPlannerReload(state, atLeast) {
  const plan = await gridmapPlannerFetchPlan(state, atLeast);
  state.plan = plan;
  state.version = plan.version;
  state.validation = null;
  gridmapPlannerShowValidation(state);
  // The log names logins, so it is read signed in: only once the planner opens it (the plan itself loads without
  // a token, and a stale one must not stop the page from showing it), then along with every reload.
  const withHistory = gridmapPlannerEl("history-box").open;
  const [grids, validation, history] = await Promise.all([
    gridmapPlannerRequest(`/api/plans/${state.planId}/grids`),
    gridmapPlannerRequest(`/api/plans/${state.planId}/validation`),
    withHistory ? gridmapPlannerRequest(`/api/plans/${state.planId}/operations`) : null,
  ]);
  state.history = history;
  state.grids = grids.features;
  state.byId = new Map(grids.features.map((f) => [f.id, f]));
  const lost = state.selection.filter((id) => !state.byId.has(id));
  state.selection = state.selection.filter((id) => state.byId.has(id));
  state.validation = validation;
  gridmapPlannerDrawGrids(state);
  gridmapPlannerDrawFindings(state);
  gridmapPlannerShowPlan(state);
  gridmapPlannerShowSelection(state);
  gridmapPlannerShowValidation(state);
  gridmapPlannerShowHistory(state);
  gridmapPlannerCommunities(state);
  gridmapPlannerTargets(state);
  return lost;
}

async function gridmapPlannerLoadCommunities(state) {
  try {  // names for the rebalance list only: codes do when this fails
    const page = await gridmapPlannerRequest("/api/communities?limit=1000");
    for (const f of page.features) state.communities[f.properties.code] = f.properties.name;
  } catch (error) {
    state.communities = {};
  }
}

// -- editing -----------------------------------------------------------------------------------------------------

function gridmapPlannerCodes(state, ids) {
  return ids.map((id) => (state.byId.has(id) ? state.byId.get(id).properties.code : `#${id}`)).join(", ");
}

// What should stay selected after an edit: the grids it produced, so the planner sees the result.
function gridmapPlannerAfterEdit(kind, answer, body) {
  if (kind === "merge") return [answer.merged_into];
  if (kind === "split") return [body.grid, ...answer.grids.created];
  if (kind === "redraw" || kind === "reassign") return [body.grid];
  return [];
}

function gridmapPlannerDoneKind(t, operation) {
  return operation ? t.kinds[operation.kind] || operation.kind : "";
}

async function gridmapPlannerEdit(state, kind, body) {
  if (state.busy || !gridmapPlannerEditable(state)) return;
  const t = state.labels;
  state.busy = true;
  state.pending = null;
  gridmapPlannerControls(state);
  const headers = { "If-Match": `"${state.version}"` };
  if (body) headers["Content-Type"] = "application/json";
  try {
    // The band is a property of the plan (PATCH); every other edit is a POST to its own route.
    const url = kind === "band" ? `/api/plans/${state.planId}` : `/api/plans/${state.planId}/${kind}`;
    const answer = await gridmapPlannerRequest(url, {
      method: kind === "band" ? "PATCH" : "POST", headers, body: body ? JSON.stringify(body) : undefined,
    });
    const version = answer.plan && answer.plan.version != null ? answer.plan.version : answer.version;
    gridmapPlannerClearDrawn(state);
    gridmapPlannerClearDiff(state);  // a diff shown before the edit is out of date
    gridmapPlannerClearProposal(state);  // so is a rebalance preview (and an applied one is now the plan)
    if (kind === "reassign") state.picked.clear();
    state.selection = gridmapPlannerAfterEdit(kind, answer, body);
    await gridmapPlannerReload(state, version);
    const done = gridmapFormat(t.done[kind], {
      codes: gridmapPlannerCodes(state, state.selection),
      community: body && body.community ? body.community : "",
      kind: gridmapPlannerDoneKind(t, answer.undid || answer.redid),
      min: body && body.min_households != null ? body.min_households : "",
      max: body && body.max_households != null ? body.max_households : "",
      count: body && body.buildings ? body.buildings.length : "",
    });
    if (kind === "reassign") gridmapPlannerShowPicked(state);
    gridmapPlannerMessage(state, "ok", [`${done} · ${t.version} v${state.version}`]);
  } catch (error) {
    if (error.status === 412) {
      await gridmapPlannerConflict(state, kind, body, error);
    } else {
      gridmapPlannerMessage(state, "error", [gridmapFormat(t.failed, { detail: error.message })]);
    }
  } finally {
    state.busy = false;
    gridmapPlannerRestyle(state);
    gridmapPlannerShowSelection(state);
    gridmapPlannerControls(state);
  }
}

// 412: nothing was applied. Reload the latest version, keep selection and drawing, offer the same edit again.
async function gridmapPlannerConflict(state, kind, body, error) {
  const t = state.labels;
  state.pending = { kind, body };
  const before = new Map(state.selection.map((id) => [id, state.byId.get(id).properties.code]));
  const lines = [t.conflict, gridmapFormat(t.conflict_server, { detail: error.message })];
  try {
    const lost = await gridmapPlannerReload(state);
    lines.push(gridmapFormat(t.conflict_reloaded, { version: state.version }));
    if (lost.length) lines.push(gridmapFormat(t.conflict_lost, { codes: lost.map((id) => before.get(id)).join(", ") }));
  } catch (reloadError) {
    lines.push(gridmapFormat(t.load_failed, { detail: reloadError.message }));
  }
  gridmapPlannerMessage(state, "conflict", lines, () => gridmapPlannerRetry(state));
}

function gridmapPlannerRetry(state) {
  const pending = state.pending;
  if (!pending) return;
  let body = pending.body;
  // A merge is retried with the selection as it stands now (grids that vanished were dropped from it).
  if (pending.kind === "merge") body = { grids: state.selection.slice() };
  gridmapPlannerEdit(state, pending.kind, body);
}

function gridmapPlannerStartDraw(state, kind) {
  const t = state.labels;
  gridmapPlannerClearDrawn(state);
  const shapeOptions = { color: GRIDMAP_PLANNER_COLOURS.drawn, weight: 3, opacity: 0.9, fill: kind !== "split" };
  const handler = kind === "split"
    ? new L.Draw.Polyline(state.map, { shapeOptions, showLength: false })
    : new L.Draw.Polygon(state.map, { shapeOptions, allowIntersection: false, showArea: false, showLength: false });
  state.drawing = { kind, grid: state.selection[0], handler };
  handler.enable();
  gridmapPlannerMessage(state, "info", [{ split: t.draw_split, redraw: t.draw_redraw, lasso: t.draw_lasso }[kind]]);
  gridmapPlannerControls(state);
}

function gridmapPlannerDrawn(state, layer) {
  const drawing = state.drawing;
  if (!drawing) return;
  state.drawing = null;
  if (drawing.kind === "lasso") {  // selects buildings; nothing is sent
    gridmapPlannerLassoed(state, layer);
    return;
  }
  layer.setStyle({ color: GRIDMAP_PLANNER_COLOURS.drawn, weight: 3, dashArray: "8 6", interactive: false });
  state.drawnLayer.addLayer(layer);
  state.drawn = { kind: drawing.kind, grid: drawing.grid, layer };
  gridmapPlannerSubmitDrawn(state);
}

// The same path whether the geometry was just drawn or is retried after a conflict.
function gridmapPlannerSubmitDrawn(state) {
  const drawn = state.drawn;
  if (!drawn) return;
  const geometry = drawn.layer.toGeoJSON().geometry;
  const body = drawn.kind === "split" ? { grid: drawn.grid, line: geometry } : { grid: drawn.grid, polygon: geometry };
  gridmapPlannerEdit(state, drawn.kind, body);
}

function gridmapPlannerCancelDraw(state) {
  if (state.drawing) {
    const handler = state.drawing.handler;
    state.drawing = null;
    handler.disable();
  }
  gridmapPlannerMessage(state, "info", []);
  gridmapPlannerControls(state);
}

async function gridmapPlannerCreateDraft(state) {
  const t = state.labels;
  const name = gridmapPlannerEl("draft-name").value.trim() || gridmapFormat(t.draft_default, { name: state.plan.name });
  state.busy = true;
  gridmapPlannerControls(state);
  try {
    const draft = await gridmapPlannerRequest("/api/plans", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ base: state.plan.id, name }),
    });
    // Wait until the new draft is readable (see gridmapPlannerFetchPlan) so the next page finds it.
    for (let attempt = 0; attempt < 20; attempt++) {
      const plans = await gridmapPlannerRequest("/api/plans");
      if (plans.some((p) => p.id === draft.id)) break;
      await gridmapSleep(100 + 50 * attempt);
    }
    const url = new URL(window.location.href);
    url.searchParams.set("plan", String(draft.id));
    window.location.assign(url.toString());
  } catch (error) {
    gridmapPlannerMessage(state, "error", [gridmapFormat(t.failed, { detail: error.message })]);
    state.busy = false;
    gridmapPlannerControls(state);
  }
}

function gridmapPlannerBind(state) {
  const t = state.labels;
  const on = (id, handler) => gridmapPlannerEl(id).addEventListener("click", handler);
  on("merge", () => gridmapPlannerEdit(state, "merge", { grids: state.selection.slice() }));
  on("split", () => gridmapPlannerStartDraw(state, "split"));
  on("redraw", () => gridmapPlannerStartDraw(state, "redraw"));
  on("finish", () => state.drawing && state.drawing.handler.completeShape());
  on("cancel", () => gridmapPlannerCancelDraw(state));
  on("clear", () => {
    state.selection = [];
    gridmapPlannerClearDrawn(state);
    gridmapPlannerRestyle(state);
    gridmapPlannerShowSelection(state);
    gridmapPlannerControls(state);
  });
  on("balance", () => gridmapPlannerEdit(state, "balance", gridmapPlannerBalanceBody()));
  on("preview", () => gridmapPlannerPreview(state));
  gridmapPlannerEl("history-box").addEventListener("toggle", () => gridmapPlannerLoadHistory(state));
  on("reassign-mode", () => gridmapPlannerTogglePicking(state));
  on("lasso", () => gridmapPlannerStartDraw(state, "lasso"));
  on("reassign-apply", () => gridmapPlannerReassign(state));
  on("reassign-clear", () => {
    state.picked.clear();
    gridmapPlannerShowPicked(state);
  });
  gridmapPlannerEl("target").addEventListener("change", (event) => {
    gridmapPlannerSetTarget(state, event.target.value ? Number(event.target.value) : null);
  });
  state.map.on("moveend", () => {
    if (!state.picking) return;
    gridmapPlannerLoadBuildings(state).then(() => gridmapPlannerControls(state)).catch((error) => {
      gridmapPlannerMessage(state, "error", [gridmapFormat(t.load_failed, { detail: error.message })]);
    });
  });
  on("undo", () => gridmapPlannerEdit(state, "undo", null));
  on("redo", () => gridmapPlannerEdit(state, "redo", null));
  on("set-band", () => gridmapPlannerEdit(state, "band", {
    min_households: Number(gridmapPlannerEl("min").value),
    max_households: Number(gridmapPlannerEl("max").value),
  }));
  on("diff", () => gridmapPlannerShowDiff(state));
  on("publish", () => {
    if (window.confirm(gridmapFormat(t.confirm_publish, { name: state.plan.name, version: state.version }))) {
      gridmapPlannerEdit(state, "publish", null);
    }
  });
  on("create-draft", () => gridmapPlannerCreateDraft(state));
  gridmapPlannerEl("community").addEventListener("change", () => gridmapPlannerControls(state));
  state.map.on(L.Draw.Event.CREATED, (event) => gridmapPlannerDrawn(state, event.layer));
  state.map.on(L.Draw.Event.DRAWSTOP, () => {  // Esc or Cancel: drawing ended without a shape
    if (state.drawing) {
      state.drawing = null;
      gridmapPlannerMessage(state, "info", []);
      gridmapPlannerControls(state);
    }
  });
  state.map.on("zoomend", () => gridmapPlannerBindLabels(state));
  // The language links keep the page's other parameters (plan, basemap).
  gridmapLanguageLinks("#gridmap-panel a[data-lang]");
}

// Leaflet.draw's own tooltips are English; in Chinese the drawing hints follow the page.
function gridmapPlannerLocalise(state) {
  if (state.lang !== "zh" || !L.drawLocal) return;
  const handlers = L.drawLocal.draw.handlers;
  handlers.polyline.tooltip = { start: "单击开始画线", cont: "单击继续画线", end: "单击最后一点或双击结束" };
  handlers.polyline.error = "<strong>错误：</strong>边不能相交！";
  handlers.polygon.tooltip = { start: "单击开始画范围", cont: "单击继续", end: "单击第一个点闭合" };
}

async function gridmapPlanner(map) {
  const state = gridmapPlannerState(map);
  // Hooks for people and tests: the map, and selecting a grid as a click on it would.
  window.gridmapPlannerMap = map;
  window.gridmapPlannerSelect = (id) => gridmapPlannerToggle(state, Number(id));
  map.createPane("gridmapPlannerBuildings").style.zIndex = "450";
  gridmapPlannerLocalise(state);
  gridmapPlannerBind(state);
  if (state.readOnly) {  // a phone: no editing tools, a note saying where to edit
    gridmapPlannerEl("editor").hidden = true;
    gridmapPlannerEl("reassign").hidden = true;
    state.panel.insertBefore(gridmapEl("p", { class: "gridmap-read-only", id: "gridmap-read-only",
                                              text: gridmapPhoneText("readOnly") }), gridmapPlannerEl("plan"));
  }
  const t = state.labels;
  const buildings = L.vectorGrid.protobuf(gridmapTileUrl(map, "buildings"), {
    rendererFactory: L.canvas.tile,
    vectorTileLayerStyles: {
      buildings: { weight: 0.5, color: "#737373", fill: true, fillColor: "#bdbdbd", fillOpacity: 0.7 },
    },
    maxNativeZoom: 18,
    minZoom: 13,
    interactive: false,
  });  // added once the view is set: tiles for the first view would be wasted and delay the plan's requests
  L.control.layers(null, {
    [t.layers.grids]: state.gridLayer,
    [t.layers.buildings]: buildings,
    [t.layers.findings]: state.findingLayer,
  }, { position: "bottomleft" }).addTo(map);
  try {
    // Edits are the planner's (the operation log names whoever signed in): sign in before the plan loads.
    await gridmapEnsureSignedIn();
    const [planId] = await Promise.all([gridmapPlannerResolvePlan(state), gridmapPlannerLoadCommunities(state)]);
    state.planId = planId;
    await gridmapPlannerReload(state);
    const bounds = state.gridLayer.getBounds();
    // Keep the grids clear of the panel (on the right; across the top on a phone). The padding is clamped to the
    // map's size and the zoom capped: too wide a padding or no layer's maxZoom gave a NaN view.
    if (bounds.isValid()) {
      const padding = state.readOnly
        ? gridmapFitPadding(map, [10, state.panel.offsetHeight + 20], [10, 10])
        : gridmapFitPadding(map, [20, 20], [state.panel.offsetWidth + 80, 20]);
      map.fitBounds(bounds, Object.assign({ animate: false, maxZoom: 18 }, padding));
    }
    state.panel.dataset.ready = "true";
  } catch (error) {
    gridmapPlannerMessage(state, "error", [gridmapFormat(t.load_failed, { detail: error.message })]);
    state.panel.dataset.ready = "error";
  } finally {
    buildings.addTo(map);
    gridmapPlannerControls(state);
  }
}
