// Dispatch map: incidents by status (clustered, and as a heat map) over grid boundaries from vector tiles.
// A click on an incident shows its details and history from /api/incidents/{id} with one button per
// transition allowed now; pressing one POSTs it and redraws the popup and the marker.
// Labels and settings come from GRIDMAP_PAGE (maps/dispatch_map.py).
"use strict";

const gridmapDispatchState = {
  map: null,
  cluster: null,
  heat: null,
  markers: {},  // incident id → L.Marker, also exposed as window.gridmapDispatchMarkers
  features: {},  // incident id → the feature's properties (kept current after transitions)
  loadSeq: 0,  // filters can change while a load is running: only the newest load may draw
  fitted: false,
  readOnly: false,  // a phone: incidents and details are shown, transitions need a tablet or a computer
};

// The page's label for key, its "{name}" placeholders filled from values.
function gridmapText(key, values) {
  return gridmapFormat(GRIDMAP_PAGE.text[key] || key, values);
}

function gridmapLabel(table, code) {
  const entry = GRIDMAP_PAGE[table][code];
  return entry ? entry[GRIDMAP_PAGE.lang] : code;
}

function gridmapStatusColor(props) {
  if (props.overdue) return GRIDMAP_PAGE.overdueColor;
  const entry = GRIDMAP_PAGE.statuses[props.status];
  return entry ? entry.color : "#666";
}

function gridmapFormatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(GRIDMAP_PAGE.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
}

// -- loading ---------------------------------------------------------------------------------------------

function gridmapDispatchFilters() {
  const form = document.getElementById("gridmap-dispatch-filters");
  const params = new URLSearchParams();
  if (form.elements.status.value) params.set("status", form.elements.status.value);
  if (form.elements.overdue.checked) params.set("overdue", "true");
  return params;
}

async function gridmapDispatchFetch(params) {
  const size = GRIDMAP_PAGE.pageSize;
  // Keyed by id: newest-first paging can repeat an incident when new reports arrive during the load.
  const byId = new Map();
  let matched = 0;
  for (let offset = 0; byId.size < GRIDMAP_PAGE.maxIncidents; offset += size) {
    const query = new URLSearchParams(params);
    query.set("limit", String(size));
    query.set("offset", String(offset));
    const page = await gridmapRequest(`/api/incidents?${query}`, { nameUrl: true });
    matched = page.numberMatched;
    for (const feature of page.features) byId.set(feature.properties.id, feature);
    if (page.numberReturned < size || offset + size >= matched) break;
  }
  return { features: [...byId.values()], matched };
}

function gridmapIncidentIcon(props) {
  const dot = gridmapEl("span", {
    class: "gridmap-incident-dot",
    "data-id": String(props.id),
    "data-status": props.status,
    "data-overdue": props.overdue ? "true" : "false",
    title: `#${props.id} ${gridmapLabel("statuses", props.status)}`,
    style: `background:${gridmapStatusColor(props)}`,
  });
  return L.divIcon({
    html: dot,
    className: `gridmap-incident${props.overdue ? " gridmap-incident-overdue" : ""}`,
    iconSize: [16, 16],
    iconAnchor: [8, 8],
    popupAnchor: [0, -8],
  });
}

// Cluster icons as markercluster draws them, plus a red badge with the number of overdue incidents inside.
function gridmapIncidentClusterIcon(cluster) {
  const children = cluster.getAllChildMarkers();
  const count = children.length;
  const overdue = children.filter((m) => m.options.gridmapOverdue).length;
  const size = count < 10 ? "small" : count < 100 ? "medium" : "large";
  const html = `<div><span>${count}</span></div>` + (overdue ? `<b class="gridmap-cluster-overdue">${overdue}</b>` : "");
  return L.divIcon({ html, className: `marker-cluster marker-cluster-${size}`, iconSize: L.point(40, 40) });
}

function gridmapDispatchMarker(feature) {
  const props = feature.properties;
  const [lon, lat] = feature.geometry.coordinates;
  const marker = L.marker([lat, lon], { icon: gridmapIncidentIcon(props), gridmapOverdue: Boolean(props.overdue) });
  const content = gridmapEl("div", { class: "gridmap-incident-popup", "data-id": String(props.id) });
  marker.bindPopup(content, { maxWidth: 360, minWidth: 260, maxHeight: 420, autoPanPadding: [20, 20] });
  marker.on("popupopen", () => gridmapDispatchDetails(marker, props.id, content));
  return marker;
}

function gridmapDispatchCounts() {
  const counts = { overdue: 0 };
  for (const props of Object.values(gridmapDispatchState.features)) {
    counts[props.status] = (counts[props.status] || 0) + 1;
    if (props.overdue) counts.overdue += 1;
  }
  for (const item of document.querySelectorAll("#gridmap-legend li")) {
    item.querySelector(".gridmap-count").textContent = `(${counts[item.dataset.status] || 0})`;
  }
  return counts;
}

function gridmapDispatchSummary(matched) {
  const shown = Object.keys(gridmapDispatchState.features).length;
  const counts = gridmapDispatchCounts();
  let text = gridmapText("loaded", { n: shown, overdue: counts.overdue });
  if (matched > shown) text += gridmapText("truncated", { shown, n: matched });
  document.getElementById("gridmap-dispatch-status").textContent = text;
}

async function gridmapDispatchLoad() {
  const state = gridmapDispatchState;
  const seq = ++state.loadSeq;
  const panel = document.getElementById("gridmap-panel");
  const status = document.getElementById("gridmap-dispatch-status");
  panel.dataset.ready = "loading";
  status.textContent = gridmapText("loading");
  try {
    const { features, matched } = await gridmapDispatchFetch(gridmapDispatchFilters());
    if (seq !== state.loadSeq) return;  // a newer filter's load is under way
    state.cluster.clearLayers();
    state.markers = {};
    state.features = {};
    const markers = [];
    for (const feature of features) {
      const marker = gridmapDispatchMarker(feature);
      state.markers[feature.properties.id] = marker;
      state.features[feature.properties.id] = feature.properties;
      markers.push(marker);
    }
    state.cluster.addLayers(markers);
    state.heat.setLatLngs(markers.map((m) => m.getLatLng()));
    window.gridmapDispatchMarkers = state.markers;
    if (!state.fitted && markers.length) {  // first load only: refiltering must not move the dispatcher's view
      state.fitted = true;
      const top = state.readOnly ? panel.offsetHeight + 20 : 30;  // on a phone the panel is across the top
      state.map.fitBounds(L.latLngBounds(markers.map((m) => m.getLatLng())),
                          Object.assign({ maxZoom: 16, animate: false }, gridmapFitPadding(state.map, [30, top], [30, 30])));
    }
    gridmapDispatchSummary(matched);
    panel.dataset.ready = "true";
  } catch (error) {
    if (seq !== state.loadSeq) return;
    status.textContent = gridmapText("failed") + error.message;
    panel.dataset.ready = "error";
  }
}

// -- details and transitions -----------------------------------------------------------------------------

async function gridmapDispatchDetails(marker, id, content, message) {
  if (!message) content.replaceChildren(gridmapEl("div", { class: "gridmap-popup-note", text: gridmapText("loading") }));
  try {
    gridmapDispatchRender(marker, await gridmapRequest(`/api/incidents/${id}`), content, message);
  } catch (error) {
    content.replaceChildren(gridmapEl("div", { class: "gridmap-popup-error", text: gridmapText("error") + error.message }));
  }
  marker.getPopup().update();
}

function gridmapDetailRow(key, value) {
  if (value === null || value === undefined || value === "") return null;
  return gridmapEl("tr", {}, [gridmapEl("th", { text: gridmapText(key) }), gridmapEl("td", { text: String(value) })]);
}

function gridmapDispatchRender(marker, incident, content, message) {
  gridmapDispatchUpdateMarker(marker, incident);
  const statusLabel = gridmapLabel("statuses", incident.status);
  const category = GRIDMAP_PAGE.categories[incident.category];
  const head = gridmapEl("div", { class: "gridmap-popup-head" }, [
    gridmapEl("strong", { text: `#${incident.id} ${gridmapLabel("categories", incident.category)}` }),
    gridmapEl("span", {
      class: "gridmap-status-badge",
      "data-status": incident.status,
      style: `background:${gridmapStatusColor({ status: incident.status })}`,
      text: statusLabel,
    }),
    incident.overdue
      ? gridmapEl("span", { class: "gridmap-overdue-badge", style: `background:${GRIDMAP_PAGE.overdueColor}`,
                            text: gridmapText("overdue") })
      : null,
  ]);
  const community = [incident.community_name, incident.community_code && `(${incident.community_code})`]
    .filter(Boolean).join(" ");
  const table = gridmapEl("table", { class: "gridmap-popup-fields" }, [
    gridmapDetailRow("description", incident.description),
    gridmapDetailRow("contact", incident.reporter_contact),  // only dispatchers and admins get it
    gridmapDetailRow("address", incident.address),
    gridmapDetailRow("department", incident.department || (category && category.department)),
    gridmapDetailRow("grid", incident.grid_code),
    gridmapDetailRow("community", community),
    gridmapDetailRow("street", incident.street_name),
    gridmapDetailRow("channel", incident.channel),
    gridmapDetailRow("reported_at", gridmapFormatTime(incident.reported_at)),
    gridmapDetailRow("deadline_at", gridmapFormatTime(incident.deadline_at)),
    gridmapDetailRow("closed_at", gridmapFormatTime(incident.closed_at)),
    gridmapDetailRow("duplicate_of", incident.duplicate_of && `#${incident.duplicate_of}`),
  ]);
  const history = gridmapEl("ol", { class: "gridmap-history" }, (incident.history || []).map((event) =>
    gridmapEl("li", { "data-action": event.action }, [
      gridmapEl("span", { class: "gridmap-history-at", text: gridmapFormatTime(event.at) }),
      gridmapEl("span", { class: "gridmap-history-action", text: ` ${gridmapLabel("actions", event.action)}` }),
      event.to_status && event.to_status !== event.from_status
        ? gridmapEl("span", { text: ` → ${gridmapLabel("statuses", event.to_status)}` }) : null,
      gridmapEl("span", { class: "gridmap-history-actor", text: ` · ${event.actor}` }),
      event.note ? gridmapEl("div", { class: "gridmap-history-note", text: event.note }) : null,
    ])));
  content.replaceChildren(
    head,
    table,
    gridmapEl("div", { class: "gridmap-popup-section", text: gridmapText("history") }),
    history,
    gridmapDispatchActions(marker, incident, content),
  );
  if (message) content.appendChild(gridmapEl("div", { class: `gridmap-popup-${message.kind}`, text: message.text }));
}

function gridmapDispatchActions(marker, incident, content) {
  const actions = incident.allowed_actions || [];
  const box = gridmapEl("div", { class: "gridmap-actions" }, [
    gridmapEl("div", { class: "gridmap-popup-section", text: gridmapText("actions") }),
  ]);
  if (gridmapDispatchState.readOnly) {
    box.appendChild(gridmapEl("div", { class: "gridmap-popup-note", text: gridmapPhoneText("readOnly") }));
    return box;
  }
  if (!actions.length) {
    box.appendChild(gridmapEl("div", { class: "gridmap-popup-note", text: gridmapText("no_actions") }));
    return box;
  }
  const note = gridmapEl("input", { type: "text", name: "note", maxlength: "5000", "aria-label": gridmapText("note"),
                                    placeholder: gridmapText("note_placeholder") });
  box.appendChild(gridmapEl("label", { class: "gridmap-field" }, [gridmapEl("span", { text: gridmapText("note") }), note]));
  let duplicateOf = null;
  if (actions.includes("mark_duplicate")) {
    duplicateOf = gridmapEl("input", { type: "number", name: "duplicate_of", min: "1", step: "1",
                                       "aria-label": gridmapText("duplicate_id") });
    box.appendChild(gridmapEl("label", { class: "gridmap-field" },
                              [gridmapEl("span", { text: gridmapText("duplicate_id") }), duplicateOf]));
  }
  const hint = gridmapEl("div", { class: "gridmap-popup-hint", role: "status" });
  const buttons = gridmapEl("div", { class: "gridmap-action-buttons" });
  for (const action of actions) {
    const spec = GRIDMAP_PAGE.actions[action] || {};
    const button = gridmapEl("button", { type: "button", "data-action": action, text: gridmapLabel("actions", action) });
    button.addEventListener("click", () => {
      const label = gridmapLabel("actions", action);
      const body = { action, note: note.value.trim() || null };
      // Ask here rather than send a request the server would refuse (422) for want of a reason.
      if (spec.needsNote && !body.note) {
        hint.textContent = gridmapText("needs_note", { action: label });
        note.focus();
        return;
      }
      if (action === "mark_duplicate") {
        const original = Number.parseInt(duplicateOf.value, 10);
        if (!Number.isInteger(original) || original < 1) {
          hint.textContent = gridmapText("needs_duplicate", { action: label });
          duplicateOf.focus();
          return;
        }
        body.duplicate_of = original;
      }
      for (const b of buttons.querySelectorAll("button")) b.disabled = true;
      hint.textContent = gridmapText("sending");
      gridmapDispatchTransition(marker, incident.id, body, content);
    });
    buttons.appendChild(button);
  }
  box.append(buttons, hint);
  return box;
}

async function gridmapDispatchTransition(marker, id, body, content) {
  const label = gridmapLabel("actions", body.action);
  try {
    const result = await gridmapRequest(`/api/incidents/${id}/transitions`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    gridmapDispatchRender(marker, result, content, { kind: "done", text: gridmapText("done", { action: label }) });
    marker.getPopup().update();
  } catch (error) {
    // 409: someone moved the incident meanwhile, or the loop does not allow this now — say so, show today's state.
    const prefix = error.status === 409 ? gridmapText("not_allowed") : gridmapText("error");
    await gridmapDispatchDetails(marker, id, content, { kind: "error", text: prefix + error.message });
  }
}

// The marker, its cluster's icon and the legend counts follow the incident's new status.
function gridmapDispatchUpdateMarker(marker, incident) {
  const state = gridmapDispatchState;
  const props = state.features[incident.id];
  if (!props) return;
  props.status = incident.status;
  props.overdue = Boolean(incident.overdue);
  props.deadline_at = incident.deadline_at;
  marker.options.gridmapOverdue = props.overdue;
  marker.setIcon(gridmapIncidentIcon(props));
  if (state.cluster.hasLayer(marker)) state.cluster.refreshClusters(marker);
  gridmapDispatchCounts();
}

// Zoom or spiderfy until the incident's marker is visible (for a dispatcher jumping to an id, and for tests).
function gridmapDispatchReveal(id) {
  // markercluster's zoomToShowLayer never calls back when the map does not move (a marker already
  // in view inside a cluster at the last zoom), so zoom without animation and poll until it shows.
  const state = gridmapDispatchState;
  const marker = state.markers[id];
  if (!marker) return Promise.resolve(false);
  const map = state.map;
  const zoom = Math.min(Math.max(map.getZoom(), marker.__parent._zoom + 1), map.getMaxZoom());
  map.setView(marker.getLatLng(), zoom, { animate: false });
  return new Promise((resolve) => {
    const deadline = Date.now() + 5000;
    const check = () => {
      if (map.hasLayer(marker) && marker._icon) return resolve(true);
      const parent = state.cluster.getVisibleParent(marker);
      if (parent && parent !== marker && parent._icon && !parent._spiderfied && map.getZoom() >= map.getMaxZoom()) {
        parent.spiderfy();  // markers on the same spot: fan them out
      }
      if (Date.now() > deadline) return resolve(false);
      setTimeout(check, 50);
    };
    check();
  });
}

// A grid worker works from the field app (/field): the dispatch page would list every incident and offer buttons
// the API refuses them, so it says where to go instead.
function gridmapDispatchForWorker() {
  const panel = document.getElementById("gridmap-panel");
  document.getElementById("gridmap-dispatch-filters").hidden = true;
  for (const legend of panel.querySelectorAll(".gridmap-legend")) legend.hidden = true;
  const status = document.getElementById("gridmap-dispatch-status");
  status.replaceChildren(
    document.createTextNode(gridmapPhoneText("fieldApp")),
    gridmapEl("a", { href: "/field", id: "gridmap-field-link", text: gridmapPhoneText("fieldLink") }),
  );
  status.classList.add("gridmap-dispatch-worker");
  panel.dataset.ready = "true";
}

function gridmapDispatch(map) {
  const state = gridmapDispatchState;
  state.map = map;
  state.readOnly = gridmapNarrow();
  state.cluster = L.markerClusterGroup({ chunkedLoading: true, iconCreateFunction: gridmapIncidentClusterIcon,
                                         spiderfyOnMaxZoom: true, showCoverageOnHover: false });
  state.heat = L.heatLayer([], { radius: 25, blur: 18, maxZoom: 17 });
  const grids = L.vectorGrid.protobuf(gridmapTileUrl(map, "grids"), {
    rendererFactory: L.canvas.tile,
    vectorTileLayerStyles: { grids: { weight: 1, color: "#2c7fb8", fill: false } },
    maxNativeZoom: 18,
  });
  grids.addTo(map);
  state.cluster.addTo(map);
  const overlays = {};
  overlays[gridmapText("incidents")] = state.cluster;
  overlays[gridmapText("heat")] = state.heat;
  overlays[gridmapText("grids")] = grids;
  // On a phone the panel takes the top: the layers fold away at the bottom right, the legend closes.
  L.control.layers(null, overlays, { collapsed: state.readOnly, position: state.readOnly ? "bottomright" : "topright" })
    .addTo(map);
  if (state.readOnly) {
    const panel = document.getElementById("gridmap-panel");
    for (const legend of panel.querySelectorAll("details.gridmap-legend")) legend.open = false;
    panel.insertBefore(gridmapEl("p", { class: "gridmap-read-only", id: "gridmap-read-only",
                                        text: gridmapPhoneText("readOnly") }),
                       document.getElementById("gridmap-dispatch-status"));
  }
  gridmapLanguageLinks("#gridmap-lang");  // the switch keeps the other query parameters (basemap)
  const form = document.getElementById("gridmap-dispatch-filters");
  form.addEventListener("change", () => gridmapDispatchLoad());
  form.addEventListener("submit", (event) => { event.preventDefault(); gridmapDispatchLoad(); });
  // Keep the panel's clicks and scrolls off the map.
  L.DomEvent.disableClickPropagation(document.getElementById("gridmap-panel"));
  L.DomEvent.disableScrollPropagation(document.getElementById("gridmap-panel"));
  window.gridmapDispatchMarkers = state.markers;
  window.gridmapDispatchReveal = gridmapDispatchReveal;
  // Dispatchers see reporters' contacts and descriptions: sign in before anything is fetched.
  return gridmapEnsureSignedIn().then((user) => {
    if (user && user.role === "grid_worker") gridmapDispatchForWorker();
    else gridmapDispatchLoad();
  });
}
