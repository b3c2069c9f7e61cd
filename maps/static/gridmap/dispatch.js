// Dispatcher's desk: incidents by status (clustered, and as a heat map) over grid boundaries from vector tiles,
// beside a queue (server-side filters and search, nearest deadline first, countdowns); a row flies to its incident.
// A click on an incident shows its details and history from /api/incidents/{id} with one button per
// transition allowed now (dispatch and reassignment with department and worker pickers); pressing one POSTs it.
// Reports and transitions of anyone arrive from GET /api/incidents/events (SSE); counts, queue and markers are
// always recomputed from the same `features`, so they never disagree.
// Labels and settings come from GRIDMAP_PAGE (maps/dispatch_map.py).
"use strict";

const gridmapDispatchState = {
  map: null,
  cluster: null,
  heat: null,
  markers: {},  // incident id → L.Marker, also exposed as window.gridmapDispatchMarkers
  features: {},  // incident id → the feature's properties (kept current after transitions)
  loadSeq: 0,  // filters can change while a load is running: only the newest load may draw
  loadedFilters: null,  // the query of the newest load (a `change` that alters nothing does not reload)
  fitted: false,
  readOnly: false,  // a phone: incidents and details are shown, transitions need a tablet or a computer
  source: null,  // the EventSource of /api/incidents/events
  lastEventId: null,
  reloadTimer: null,
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

// The queue's filters as /api/incidents parameters (the server filters; the page only sorts).
function gridmapDispatchFilters() {
  const form = document.getElementById("gridmap-dispatch-filters");
  const params = new URLSearchParams();
  for (const name of ["status", "category", "channel", "community", "grid", "q"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  // Dates are local days: from the start of `since` to the end of `until`.
  if (form.elements.since.value) params.set("since", new Date(`${form.elements.since.value}T00:00`).toISOString());
  if (form.elements.until.value) {
    const end = new Date(`${form.elements.until.value}T00:00`);
    end.setDate(end.getDate() + 1);
    params.set("until", end.toISOString());
  }
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

// Summary line, legend counts and queue, all from state.features: after a load, a transition, a live event
// or a deadline passing (the summary and the legend used to be counted at different times and disagreed).
function gridmapDispatchRefresh() {
  const state = gridmapDispatchState;
  const shown = Object.keys(state.features).length;
  const counts = gridmapDispatchCounts();
  let text = gridmapText("loaded", { n: shown, overdue: counts.overdue });
  if (state.matched > shown) text += gridmapText("truncated", { shown, n: state.matched });
  document.getElementById("gridmap-dispatch-status").textContent = text;
  gridmapDispatchQueue();
}

function gridmapDispatchSummary(matched) {
  gridmapDispatchState.matched = matched;
  gridmapDispatchRefresh();
}

// "3 小时 12 分" / "2 d 4 h": the time between now and `iso`, in the two largest units.
function gridmapDuration(ms) {
  const minutes = Math.max(1, Math.round(Math.abs(ms) / 60000));
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const parts = [];
  if (days) parts.push(gridmapText("days", { n: days }));
  if (hours || days) parts.push(gridmapText("hours", { n: hours }));
  if (!days) parts.push(gridmapText("minutes", { n: minutes % 60 }));
  return parts.slice(0, 2).join(" ");
}

function gridmapCountdown(deadline) {
  if (!deadline) return "";
  const left = new Date(deadline).getTime() - Date.now();
  return gridmapText(left >= 0 ? "left" : "late", { t: gridmapDuration(left) });
}

function gridmapDispatchSorted() {
  const order = document.getElementById("gridmap-dispatch-filters").elements.sort.value;
  const all = Object.values(gridmapDispatchState.features);
  const newest = (a, b) => (b.reported_at || "").localeCompare(a.reported_at || "") || b.id - a.id;
  if (order === "newest") return all.sort(newest);
  // Nearest deadline first (overdue ones lead); finished incidents (no deadline) last.
  return all.sort((a, b) => {
    if (!a.deadline_at || !b.deadline_at) return (a.deadline_at ? -1 : b.deadline_at ? 1 : 0) || newest(a, b);
    return new Date(a.deadline_at) - new Date(b.deadline_at) || newest(a, b);
  });
}

function gridmapDispatchQueue() {
  const list = document.getElementById("gridmap-queue");
  if (!list) return;
  const rows = gridmapDispatchSorted();
  const limit = GRIDMAP_PAGE.queueRows;
  list.replaceChildren(...rows.slice(0, limit).map((props) => {
    const channel = props.channel ? gridmapLabel("channels", props.channel) : "";
    const item = gridmapEl("li", { "data-id": String(props.id), "data-status": props.status,
                                   "data-overdue": props.overdue ? "true" : "false" }, [
      gridmapEl("button", { type: "button", class: "gridmap-queue-row" }, [
        gridmapEl("i", { class: "gridmap-swatch", style: `background:${gridmapStatusColor(props)}` }),
        gridmapEl("strong", { text: `#${props.id} ${gridmapLabel("categories", props.category)}` }),
        gridmapEl("span", { class: "gridmap-queue-status", text: ` ${gridmapLabel("statuses", props.status)}` }),
        gridmapEl("span", { class: "gridmap-queue-meta",
                            text: [props.grid_code, channel, props.assignee_name].filter(Boolean).join(" · ") }),
        gridmapEl("span", { class: `gridmap-countdown${props.overdue ? " gridmap-countdown-late" : ""}`,
                            "data-deadline": props.deadline_at || "", text: gridmapCountdown(props.deadline_at) }),
      ]),
    ]);
    item.firstChild.addEventListener("click", () => gridmapDispatchOpen(props.id));
    return item;
  }));
  document.getElementById("gridmap-queue-more").textContent = rows.length > limit
    ? gridmapText("queue_more", { n: rows.length - limit })
    : rows.length ? "" : gridmapText("queue_empty");
  gridmapDispatchDatalists();
}

// The community and grid boxes suggest the codes of the incidents loaded.
function gridmapDispatchDatalists() {
  for (const [id, key] of [["gridmap-communities", "community_code"], ["gridmap-grids", "grid_code"]]) {
    const codes = [...new Set(Object.values(gridmapDispatchState.features).map((p) => p[key]).filter(Boolean))].sort();
    document.getElementById(id).replaceChildren(...codes.map((code) => gridmapEl("option", { value: code })));
  }
}

// A queue row: fly to the incident and open its popup.
async function gridmapDispatchOpen(id) {
  const marker = gridmapDispatchState.markers[id];
  if (!marker) return;
  for (const row of document.querySelectorAll("#gridmap-queue li")) row.classList.toggle("gridmap-queue-selected", row.dataset.id === String(id));
  if (await gridmapDispatchReveal(id)) marker.openPopup();
}

// Every half minute: countdowns move, and an incident whose deadline passed turns overdue (counts follow).
function gridmapDispatchTick() {
  const state = gridmapDispatchState;
  let changed = false;
  for (const props of Object.values(state.features)) {
    const overdue = Boolean(props.deadline_at) && new Date(props.deadline_at).getTime() < Date.now();
    if (overdue !== Boolean(props.overdue)) {
      props.overdue = overdue;
      const marker = state.markers[props.id];
      if (marker) {
        marker.options.gridmapOverdue = overdue;
        marker.setIcon(gridmapIncidentIcon(props));
      }
      changed = true;
    }
  }
  if (changed) {
    state.cluster.refreshClusters();
    gridmapDispatchRefresh();
  } else {
    for (const span of document.querySelectorAll("#gridmap-queue .gridmap-countdown")) {
      span.textContent = gridmapCountdown(span.dataset.deadline);
    }
  }
}

// -- live updates (Server-Sent Events) --------------------------------------------------------------------

// One incident changed somewhere: ask the server whether it still matches the filters (`q=#id` finds exactly it
// among the filtered), then add, move or drop its marker. A dispatcher's own search: the whole list again.
async function gridmapDispatchLive(id) {
  const state = gridmapDispatchState;
  const params = gridmapDispatchFilters();
  if (params.has("q")) {
    clearTimeout(state.reloadTimer);
    state.reloadTimer = setTimeout(() => gridmapDispatchLoad(), 300);
    return;
  }
  params.set("q", `#${id}`);
  params.set("limit", "10");
  const page = await gridmapRequest(`/api/incidents?${params}`, { nameUrl: true });
  const feature = page.features.find((f) => f.properties.id === id);
  const old = state.markers[id];
  if (old) {
    const open = old.isPopupOpen();
    state.cluster.removeLayer(old);
    delete state.markers[id];
    delete state.features[id];
    if (!feature) state.matched = Math.max(0, (state.matched || 1) - 1);
    if (feature) {
      gridmapDispatchAdd(feature);
      if (open) gridmapDispatchOpen(id);
    }
  } else if (feature) {
    gridmapDispatchAdd(feature);
    state.matched = (state.matched || 0) + 1;
  }
  state.heat.setLatLngs(Object.values(state.markers).map((m) => m.getLatLng()));
  gridmapDispatchRefresh();
}

function gridmapDispatchAdd(feature) {
  const state = gridmapDispatchState;
  const marker = gridmapDispatchMarker(feature);
  state.markers[feature.properties.id] = marker;
  state.features[feature.properties.id] = feature.properties;
  state.cluster.addLayer(marker);
}

async function gridmapDispatchFollow() {
  const state = gridmapDispatchState;
  const live = document.getElementById("gridmap-live");
  let ticket;
  try {
    ticket = await gridmapRequest("/api/incidents/events/ticket", { method: "POST" });
  } catch (error) {
    live.textContent = gridmapText("live_lost");
    setTimeout(gridmapDispatchFollow, 5000);
    return;
  }
  const query = new URLSearchParams({ ticket: ticket.ticket });
  if (state.lastEventId) query.set("after", state.lastEventId);  // a new ticket: carry on where the last stream ended
  const source = new EventSource(`/api/incidents/events?${query}`);
  state.source = source;
  source.addEventListener("open", () => {
    live.textContent = gridmapText("live");
    live.dataset.live = "true";
  });
  source.addEventListener("incident", (event) => {
    state.lastEventId = event.lastEventId;
    const data = JSON.parse(event.data);
    gridmapDispatchLive(data.incident_id).catch(() => {});
  });
  source.addEventListener("error", () => {
    live.dataset.live = "false";
    live.textContent = gridmapText("live_lost");
    // EventSource reconnects by itself with Last-Event-ID; once its ticket has expired it gives up (CLOSED).
    if (source.readyState === EventSource.CLOSED && state.source === source) setTimeout(gridmapDispatchFollow, 1000);
  });
}

async function gridmapDispatchLoad() {
  const state = gridmapDispatchState;
  const seq = ++state.loadSeq;
  const filters = gridmapDispatchFilters();
  state.loadedFilters = filters.toString();
  const panel = document.getElementById("gridmap-panel");
  const status = document.getElementById("gridmap-dispatch-status");
  panel.dataset.ready = "loading";
  status.textContent = gridmapText("loading");
  try {
    const { features, matched } = await gridmapDispatchFetch(filters);
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
    gridmapDetailRow("assignee", incident.assignee_name),
    gridmapDetailRow("channel", incident.channel && gridmapLabel("channels", incident.channel)),
    gridmapDetailRow("tracking_number", incident.tracking_number),
    gridmapDetailRow("reported_at", gridmapFormatTime(incident.reported_at)),
    gridmapDetailRow("deadline_at", incident.deadline_at &&
      `${gridmapFormatTime(incident.deadline_at)} (${gridmapCountdown(incident.deadline_at)})`),
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
  const reassignable = GRIDMAP_PAGE.reassignable.includes(incident.status);
  const pickers = actions.includes("dispatch") || reassignable ? gridmapDispatchPickers(incident, box) : null;
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
      if (action === "dispatch" && pickers) Object.assign(body, pickers.value());
      for (const b of buttons.querySelectorAll("button")) b.disabled = true;
      hint.textContent = gridmapText("sending");
      gridmapDispatchTransition(marker, incident.id, body, content);
    });
    buttons.appendChild(button);
  }
  if (reassignable) {
    const button = gridmapEl("button", { type: "button", "data-action": "reassign", title: gridmapText("reassign_hint"),
                                         text: gridmapLabel("actions", "reassign") });
    button.addEventListener("click", () => {
      for (const b of buttons.querySelectorAll("button")) b.disabled = true;
      hint.textContent = gridmapText("sending");
      gridmapDispatchReassign(marker, incident.id, { ...pickers.value(), note: note.value.trim() || null }, content);
    });
    buttons.appendChild(button);
  }
  box.append(buttons, hint);
  return box;
}

// Department and worker pickers (派遣 / 改派): the incident's department first, the grid's workers first.
function gridmapDispatchPickers(incident, box) {
  const department = gridmapEl("select", { name: "department", "aria-label": gridmapText("department") }, [
    gridmapEl("option", { value: incident.department || "", text: incident.department || "" }),
  ]);
  const worker = gridmapEl("select", { name: "worker", "aria-label": gridmapText("worker") }, [
    gridmapEl("option", { value: "", text: gridmapText("no_worker") }),
  ]);
  box.append(
    gridmapEl("label", { class: "gridmap-field" }, [gridmapEl("span", { text: gridmapText("department") }), department]),
    gridmapEl("label", { class: "gridmap-field" }, [gridmapEl("span", { text: gridmapText("worker") }), worker]),
  );
  gridmapRequest(`/api/incidents/${incident.id}/dispatch-options`).then((options) => {
    department.replaceChildren(...options.departments.map((name) => gridmapEl("option", { value: name, text: name })));
    department.value = incident.department || options.department;
    const option = (w) => gridmapEl("option", { value: String(w.id), text: `${w.name}${w.grids.length ? ` (${w.grids.join(", ")})` : ""}` });
    const mine = options.workers.filter((w) => w.in_grid);
    const others = options.workers.filter((w) => !w.in_grid);
    worker.replaceChildren(...[
      gridmapEl("option", { value: "", text: gridmapText("no_worker") }),
      mine.length ? gridmapEl("optgroup", { label: gridmapText("in_grid") }, mine.map(option)) : null,
      others.length ? gridmapEl("optgroup", { label: gridmapText("other_workers") }, others.map(option)) : null,
    ].filter(Boolean));
    if (incident.assignee_id) worker.value = String(incident.assignee_id);
    box.dataset.pickers = "ready";
  }).catch((error) => {
    box.appendChild(gridmapEl("div", { class: "gridmap-popup-error", text: gridmapText("error") + error.message }));
  });
  return {
    value() {
      const chosen = {};
      if (department.value) chosen.department = department.value;
      if (worker.value) chosen.worker = Number(worker.value);
      return chosen;
    },
  };
}

async function gridmapDispatchReassign(marker, id, body, content) {
  return gridmapDispatchSend(marker, id, "assignment", body, content, gridmapLabel("actions", "reassign"));
}

async function gridmapDispatchTransition(marker, id, body, content) {
  return gridmapDispatchSend(marker, id, "transitions", body, content, gridmapLabel("actions", body.action));
}

// POST one change of an incident (a transition, a reassignment) and show the answer in its popup.
async function gridmapDispatchSend(marker, id, path, body, content, label) {
  try {
    const result = await gridmapRequest(`/api/incidents/${id}/${path}`, {
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
  props.department = incident.department;
  props.assignee_id = incident.assignee_id;
  props.assignee_name = incident.assignee_name;
  marker.setIcon(gridmapIncidentIcon(props));
  if (state.cluster.hasLayer(marker)) state.cluster.refreshClusters(marker);
  gridmapDispatchRefresh();
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
  // A search box fires `change` again when it loses focus after Enter: load only when the filters really changed,
  // or the second load would redraw the markers and close the popup the dispatcher just opened.
  form.addEventListener("change", () => {
    if (gridmapDispatchFilters().toString() !== state.loadedFilters) gridmapDispatchLoad();
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); gridmapDispatchLoad(); });
  // Keep the panel's clicks and scrolls off the map.
  L.DomEvent.disableClickPropagation(document.getElementById("gridmap-panel"));
  L.DomEvent.disableScrollPropagation(document.getElementById("gridmap-panel"));
  window.gridmapDispatchMarkers = state.markers;
  window.gridmapDispatchReveal = gridmapDispatchReveal;
  // Dispatchers see reporters' contacts and descriptions: sign in before anything is fetched.
  window.gridmapDispatchOpen = gridmapDispatchOpen;
  return gridmapEnsureSignedIn().then((user) => {
    if (user && user.role === "grid_worker") {
      gridmapDispatchForWorker();
      return;
    }
    gridmapDispatchLoad();
    gridmapDispatchFollow();
    setInterval(gridmapDispatchTick, 30000);
  });
}
