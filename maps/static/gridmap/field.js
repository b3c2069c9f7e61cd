// The grid worker's phone app (/field, maps/field_page.py): queue, map, report, check-in, home visit.
// Every write goes through the outbox (IndexedDB) with its Idempotency-Key and is sent when the phone is online;
// photos wait in the outbox as blobs and are uploaded first. The sign-in is a device session kept in localStorage
// (it survives closing the app); the service worker (/field/sw.js) keeps the shell and the answers for offline use.
"use strict";

const FIELD = {
  config: null,
  map: null,
  user: null,
  layers: {},
  position: null,       // {lon, lat, accuracy} from watchPosition (WGS 84)
  picking: null,        // "report" | "visit" while the next map tap chooses a place
  reportPlace: null,    // {lon, lat} picked on the map
  visitBuilding: null,  // {id, name}
  incidents: [],
  badge: 0,
  events: null,
  lastEventId: null,
  flushing: null,
  audio: null,
};

const FIELD_TOKEN = "gridmap.field.token";
const FIELD_USER = "gridmap.field.user";
const FIELD_TODAY = "gridmap.field.today";
const FIELD_CLOSED = new Set(["closed", "rejected", "duplicate", "verified"]);
const FIELD_FLUSH_MS = 15000;

function fieldT(key, values) {
  return gridmapFormat(FIELD.config.text[key] || key, values);
}

function fieldStored(key) {
  try {
    return window.localStorage.getItem(key);
  } catch (error) {
    return null;
  }
}

function fieldToken() {
  return fieldStored(FIELD_TOKEN);
}

function fieldToast(text) {
  const toast = document.getElementById("field-toast");
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(fieldToast.timer);
  fieldToast.timer = setTimeout(() => { toast.hidden = true; }, 3500);
}

// -- requests ---------------------------------------------------------------------------------------------------

class FieldSignedOut extends Error {}

// The page's language for the server's messages (problem+json details), whatever the phone's own language is.
function fieldLanguage() {
  return FIELD.config.lang === "zh" ? "zh-CN" : "en";
}

// fetch with the device token; a 401 means the session ended (signed out elsewhere, password changed): sign in again.
async function fieldFetch(url, init) {
  const options = Object.assign({}, init || {});
  options.headers = Object.assign({ Accept: "application/json" }, options.headers || {});
  const token = fieldToken();
  if (token) options.headers.Authorization = `Bearer ${token}`;
  options.headers["Accept-Language"] = fieldLanguage();
  const response = await fetch(url, options);
  if (response.status === 401) {
    fieldForget();
    fieldShowSignIn();
    throw new FieldSignedOut("signed out");
  }
  return response;
}

// Offline, the answer the service worker kept last time is read straight from its cache (no failing request).
async function fieldGet(url) {
  if (!navigator.onLine && window.caches) {
    const kept = await window.caches.match(new URL(url, window.location.href).href);
    if (!kept) throw new Error(fieldT("offline"));
    return kept.json();
  }
  const response = await fieldFetch(url);
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new GridmapHttpError(response.status, (body && body.detail) || `HTTP ${response.status}`, body, url);
  return body;
}

// -- the outbox (IndexedDB) -------------------------------------------------------------------------------------

let fieldDb = null;

function fieldIdb(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function fieldOutbox(mode) {
  if (!fieldDb) {
    const opening = window.indexedDB.open("gridmap-field", 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore("outbox", { keyPath: "id" });
    fieldDb = await fieldIdb(opening);
  }
  return fieldDb.transaction("outbox", mode).objectStore("outbox");
}

async function fieldQueued() {
  const all = await fieldIdb((await fieldOutbox("readonly")).getAll());
  return all.sort((a, b) => a.createdAt - b.createdAt);
}

async function fieldSave(entry) {
  await fieldIdb((await fieldOutbox("readwrite")).put(entry));
}

async function fieldDrop(id) {
  await fieldIdb((await fieldOutbox("readwrite")).delete(id));
}

// Queue a write: {kind, method, url, body, photos: [File]}. The Idempotency-Key is made now, so however often the
// phone retries, the server makes one row.
async function fieldEnqueue(action) {
  const id = window.crypto.randomUUID();
  const photos = [];
  for (const file of action.photos || []) {
    // Read now: a File from the camera input may not be readable later (and must survive a reload).
    photos.push({ blob: new Blob([await file.arrayBuffer()], { type: file.type }), name: file.name || "photo" });
  }
  await fieldSave({
    id,
    kind: action.kind,
    method: action.method || "POST",
    url: action.url,
    body: action.body || {},
    idempotencyKey: id,
    createdAt: Date.now(),
    attempts: 0,
    status: "pending",
    error: null,
    photos,
    uploaded: [],
  });
  await fieldShowBanner();
  if (navigator.onLine) {
    await fieldFlush();
  } else {
    fieldToast(fieldT("queued"));
  }
}

// Send what is queued, oldest first. 2xx (and a 409: already done, e.g. a retried transition) → done; 401 → sign in
// and keep it; other 4xx → failed, shown; 5xx or no network → stop and retry later.
function fieldFlush() {
  if (!FIELD.flushing) {
    FIELD.flushing = fieldFlushOnce().finally(() => { FIELD.flushing = null; });
  }
  return FIELD.flushing;
}

async function fieldFlushOnce() {
  if (!fieldToken() || !navigator.onLine) return;
  let sent = 0;
  for (const entry of await fieldQueued()) {
    if (entry.status !== "pending") continue;
    try {
      while (entry.uploaded.length < entry.photos.length) {
        const photo = entry.photos[entry.uploaded.length];
        const form = new FormData();
        form.append("file", photo.blob, photo.name);
        const response = await fieldFetch("/api/uploads", { method: "POST", body: form });
        const body = await response.json().catch(() => null);
        if (!response.ok) {
          if (response.status >= 500 || response.status === 429) throw new Error(`HTTP ${response.status}`);
          throw new GridmapHttpError(response.status, (body && body.detail) || `HTTP ${response.status}`, body, "");
        }
        entry.uploaded.push(body.id);
        await fieldSave(entry);  // an upload is not repeated after a reload
      }
      const payload = Object.assign({}, entry.body);
      if (entry.uploaded.length) payload.photos = entry.uploaded.slice();
      const response = await fieldFetch(entry.url, {
        method: entry.method,
        headers: { "Content-Type": "application/json", "Idempotency-Key": entry.idempotencyKey },
        body: JSON.stringify(payload),
      });
      if (response.ok || response.status === 409) {
        await fieldDrop(entry.id);
        sent += 1;
        if (entry.kind === "report" && response.ok) fieldRemember("reports", entry.body.location);
        continue;
      }
      const body = await response.json().catch(() => null);
      if (response.status >= 500 || response.status === 429) throw new Error(`HTTP ${response.status}`);
      throw new GridmapHttpError(response.status, (body && body.detail) || `HTTP ${response.status}`, body, entry.url);
    } catch (error) {
      if (error instanceof FieldSignedOut) break;
      if (error instanceof GridmapHttpError) {
        entry.status = "failed";
        entry.error = error.detail;
        await fieldSave(entry);
        fieldToast(fieldT("failed") + error.detail);
        continue;
      }
      entry.attempts += 1;  // the network or the server: later
      await fieldSave(entry);
      break;
    }
  }
  await fieldShowBanner();
  if (sent) {
    fieldToast(fieldT("sent"));
    await fieldRefresh();
  }
}

async function fieldShowBanner() {
  const banner = document.getElementById("field-banner");
  const queued = await fieldQueued();
  const pending = queued.filter((e) => e.status === "pending").length;
  const failed = queued.filter((e) => e.status === "failed");
  banner.replaceChildren();
  if (pending) banner.appendChild(gridmapEl("span", { class: "field-pending", text: fieldT("pending", { n: pending }) }));
  if (failed.length) {
    const item = gridmapEl("span", { class: "field-failed", text: fieldT("failed_items", { n: failed.length }),
                                      title: failed.map((e) => e.error).join("\n") });
    banner.appendChild(item);
    const clear = gridmapEl("button", { type: "button", class: "field-link", text: "×" });
    clear.addEventListener("click", async () => {
      for (const entry of failed) await fieldDrop(entry.id);
      await fieldShowBanner();
    });
    banner.appendChild(clear);
  }
  banner.hidden = !(pending || failed.length);
  banner.dataset.pending = String(pending);
}

// -- sign-in (a device session) -----------------------------------------------------------------------------------

function fieldForget() {
  try {
    window.localStorage.removeItem(FIELD_TOKEN);
    window.localStorage.removeItem(FIELD_USER);
  } catch (error) { /* nothing stored */ }
  if (FIELD.events) FIELD.events.close();
  FIELD.events = null;
  // Cached answers are the worker's: gone with the session.
  if (navigator.serviceWorker && navigator.serviceWorker.controller) {
    navigator.serviceWorker.controller.postMessage({ type: "forget" });
  }
}

function fieldShowSignIn() {
  document.getElementById("field-signin").hidden = false;
  document.getElementById("field-signout").hidden = true;
}

function fieldDeviceName() {
  const agent = navigator.userAgent || "";
  const kind = /Android/i.test(agent) ? "Android" : /iPhone|iPad/i.test(agent) ? "iOS" : "browser";
  return `field app (${kind})`;
}

function fieldBindSignIn() {
  const form = document.getElementById("field-signin-form");
  const error = form.querySelector(".field-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const response = await fetch("/api/auth/token", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json",
                   "Accept-Language": fieldLanguage() },
        body: new URLSearchParams({ username: form.elements.username.value, password: form.elements.password.value,
                                    device: fieldDeviceName() }),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        error.textContent = response.status === 401 ? fieldT("wrong") : fieldT("failed") + ((body && body.detail) || response.status);
        error.hidden = false;
        return;
      }
      if (body.user.role !== "grid_worker") {
        error.textContent = fieldT("not_worker");
        error.hidden = false;
        return;
      }
      window.localStorage.setItem(FIELD_TOKEN, body.access_token);
      window.localStorage.setItem(FIELD_USER, JSON.stringify(body.user));
      form.elements.password.value = "";
      document.getElementById("field-signin").hidden = true;
      await fieldStart();
    } catch (failure) {
      error.textContent = fieldT("failed") + failure.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  document.getElementById("field-signout").addEventListener("click", async () => {
    const token = fieldToken();
    if (token && navigator.onLine) {
      await fetch("/api/auth/sign-out", { method: "POST", headers: { Authorization: `Bearer ${token}` } }).catch(() => null);
    }
    fieldForget();
    window.location.reload();
  });
}

// -- tabs ---------------------------------------------------------------------------------------------------------

function fieldTab(name) {
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== name;
  document.getElementById("field-incident").hidden = true;
  for (const button of document.querySelectorAll(".field-tab")) {
    button.classList.toggle("field-tab-active", button.dataset.tab === name);
  }
  document.body.dataset.tab = name;
  if (name === "map" && FIELD.map) FIELD.map.invalidateSize();
  if (name === "queue") fieldSetBadge(0);
  if (name === "checkin") fieldShowPatrol();
}

function fieldSetBadge(count) {
  FIELD.badge = count;
  const badge = document.getElementById("field-badge");
  badge.textContent = String(count);
  badge.hidden = count === 0;
  try {
    if (count && navigator.setAppBadge) navigator.setAppBadge(count).catch(() => null);
    else if (navigator.clearAppBadge) navigator.clearAppBadge().catch(() => null);
  } catch (error) { /* no badging API */ }
}

// -- position ------------------------------------------------------------------------------------------------------

function fieldWatchPosition() {
  if (!navigator.geolocation) return;
  navigator.geolocation.watchPosition((found) => {
    FIELD.position = { lon: found.coords.longitude, lat: found.coords.latitude, accuracy: found.coords.accuracy };
    const { lon, lat, accuracy } = FIELD.position;
    document.getElementById("field-position").textContent =
      `${lon.toFixed(6)}, ${lat.toFixed(6)} · ${fieldT("accuracy", { m: Math.round(accuracy) })}`;
    if (!FIELD.layers.me) {
      FIELD.layers.me = L.circleMarker([lat, lon], { radius: 8, color: "#fff", weight: 3, fillColor: "#1f6fb2",
                                                     fillOpacity: 1 }).addTo(FIELD.map);
      FIELD.layers.accuracy = L.circle([lat, lon], { radius: accuracy, weight: 1, color: "#1f6fb2", fillOpacity: 0.1 })
        .addTo(FIELD.map);
    } else {
      FIELD.layers.me.setLatLng([lat, lon]);
      FIELD.layers.accuracy.setLatLng([lat, lon]).setRadius(accuracy);
    }
    fieldShowReportPlace();
  }, () => null, { enableHighAccuracy: true, maximumAge: 10000 });
}

// -- the queue of my grids' incidents --------------------------------------------------------------------------

function fieldOrder(a, b) {
  // Overdue first, then by deadline (none last), then the newest.
  if (a.overdue !== b.overdue) return a.overdue ? -1 : 1;
  const da = a.deadline_at ? Date.parse(a.deadline_at) : Infinity;
  const db = b.deadline_at ? Date.parse(b.deadline_at) : Infinity;
  if (da !== db) return da - db;
  return b.id - a.id;
}

async function fieldLoadQueue() {
  const list = document.getElementById("field-queue");
  let page;
  try {
    page = await fieldGet("/api/workers/me/incidents?limit=500");
  } catch (error) {
    if (!(error instanceof FieldSignedOut)) list.replaceChildren(gridmapEl("li", { class: "field-hint", text: fieldT("failed") + error.message }));
    return;
  }
  FIELD.incidents = page.features
    .map((f) => Object.assign({}, f.properties, { lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1] }))
    .filter((i) => !FIELD_CLOSED.has(i.status))
    .sort(fieldOrder);
  list.replaceChildren();
  if (!FIELD.incidents.length) list.appendChild(gridmapEl("li", { class: "field-hint", text: fieldT("queue_empty") }));
  const category = Object.fromEntries(FIELD.config.categories.map((c) => [c.code, c.name]));
  for (const incident of FIELD.incidents) {
    const due = incident.deadline_at ? fieldT("due", { at: new Date(incident.deadline_at).toLocaleString() }) : "";
    const item = gridmapEl("li", { class: `field-item${incident.overdue ? " field-overdue" : ""}`,
                                   "data-incident": incident.id }, [
      gridmapEl("div", { class: "field-item-head" }, [
        gridmapEl("b", { text: `#${incident.id} ${category[incident.category] || incident.category}` }),
        gridmapEl("span", { class: `field-status field-status-${incident.status}`,
                            text: FIELD.config.statuses[incident.status] || incident.status }),
      ]),
      gridmapEl("div", { class: "field-item-meta", text: [incident.overdue ? fieldT("overdue") : "", due,
                                                          incident.grid_code || ""].filter(Boolean).join(" · ") }),
    ]);
    item.addEventListener("click", () => fieldOpenIncident(incident.id));
    list.appendChild(item);
  }
  fieldDrawIncidents();
}

function fieldDrawIncidents() {
  if (FIELD.layers.incidents) FIELD.layers.incidents.remove();
  FIELD.layers.incidents = L.layerGroup(FIELD.incidents.map((incident) => {
    const marker = L.circleMarker([incident.lat, incident.lon], {
      radius: 9, weight: 2, color: "#fff", fillOpacity: 0.9, fillColor: incident.overdue ? "#d7191c" : "#f39c12",
    });
    marker.on("click", () => fieldOpenIncident(incident.id));
    return marker;
  })).addTo(FIELD.map);
}

// -- an incident ---------------------------------------------------------------------------------------------------

async function fieldOpenIncident(id) {
  const sheet = document.getElementById("field-incident");
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = true;
  sheet.hidden = false;
  sheet.replaceChildren(gridmapEl("p", { class: "field-hint", text: fieldT("loading") }));
  let incident;
  try {
    incident = await fieldGet(`/api/incidents/${id}`);
  } catch (error) {
    sheet.replaceChildren(gridmapEl("p", { class: "field-error", text: fieldT("failed") + error.message }));
    return;
  }
  const category = (FIELD.config.categories.find((c) => c.code === incident.category) || {}).name || incident.category;
  const close = gridmapEl("button", { type: "button", class: "field-link field-close", text: fieldT("close") });
  close.addEventListener("click", () => fieldTab(document.body.dataset.tab || "queue"));
  const photos = gridmapEl("div", { class: "field-photos" });
  for (const photo of incident.photos || []) {
    photos.appendChild(gridmapEl("img", { alt: "", class: "field-photo", "data-src": photo.thumbnail }));
  }
  const note = gridmapEl("textarea", { name: "note", rows: "2", maxlength: "2000", placeholder: fieldT("note") });
  const files = gridmapEl("input", { type: "file", name: "photos", accept: "image/*", capture: "environment",
                                     multiple: true, class: "field-photo-input" });
  const actions = gridmapEl("div", { class: "field-actions" });
  const allowed = (incident.allowed_actions || []).filter((a) => FIELD.config.worker_actions.includes(a));
  for (const action of allowed) {
    const button = gridmapEl("button", { type: "button", class: `field-primary field-action-${action}`,
                                         "data-action": action, text: FIELD.config.actions[action] });
    button.addEventListener("click", async () => {
      if (FIELD.config.needs_note.includes(action) && !note.value.trim()) {
        fieldToast(fieldT("required", { what: fieldT("reason") }));
        note.focus();
        return;
      }
      button.disabled = true;
      await fieldEnqueue({ kind: "transition", url: `/api/incidents/${id}/transitions`,
                           body: { action, note: note.value.trim() || null }, photos: Array.from(files.files) });
      fieldTab("queue");
    });
    actions.appendChild(button);
  }
  if (!allowed.length) actions.appendChild(gridmapEl("p", { class: "field-hint", text: fieldT("no_actions") }));
  const history = gridmapEl("ul", { class: "field-list" }, (incident.history || []).map((h) =>
    gridmapEl("li", { text: `${new Date(h.at).toLocaleString()} · ${h.actor} · ${h.action}${h.note ? ` · ${h.note}` : ""}` })));
  sheet.replaceChildren(
    gridmapEl("div", { class: "field-item-head" }, [gridmapEl("h2", { text: `#${incident.id} ${category}` }), close]),
    gridmapEl("p", { class: `field-status field-status-${incident.status}`,
                     text: FIELD.config.statuses[incident.status] || incident.status }),
    gridmapEl("p", { text: incident.description || "" }),
    gridmapEl("p", { class: "field-hint", text: [incident.address, incident.grid_code].filter(Boolean).join(" · ") }),
    photos,
    gridmapEl("label", { text: fieldT("note") }, [note]),
    gridmapEl("label", { text: fieldT("photos") }, [files]),
    actions,
    history,
  );
  fieldLoadPhotos(photos);
}

// Photos need the token, which an <img src> cannot send: fetched and shown as blob: URLs.
async function fieldLoadPhotos(container) {
  for (const img of container.querySelectorAll("img[data-src]")) {
    try {
      const response = await fieldFetch(img.dataset.src);
      if (response.ok) img.src = URL.createObjectURL(await response.blob());
    } catch (error) { /* offline: no thumbnail */ }
  }
}

// -- report ----------------------------------------------------------------------------------------------------------

function fieldShowReportPlace() {
  const place = document.getElementById("field-report-place");
  const form = document.getElementById("field-report-form");
  if (!place || !form) return;
  const where = form.elements.where.value;
  const point = where === "map" ? FIELD.reportPlace : FIELD.position;
  place.textContent = point ? fieldT("picked", { lon: point.lon.toFixed(6), lat: point.lat.toFixed(6) })
    : where === "map" ? fieldT("pick_hint") : fieldT("no_position");
}

function fieldBindReport() {
  const form = document.getElementById("field-report-form");
  const select = form.elements.category;
  for (const category of FIELD.config.categories) {
    select.appendChild(gridmapEl("option", { value: category.code, text: category.name }));
  }
  for (const radio of form.querySelectorAll("input[name='where']")) {
    radio.addEventListener("change", () => {
      if (radio.checked && radio.value === "map") {
        FIELD.picking = "report";
        fieldTab("map");
        fieldToast(fieldT("pick_hint"));
      }
      fieldShowReportPlace();
    });
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const point = form.elements.where.value === "map" ? FIELD.reportPlace : FIELD.position;
    if (!point) {
      fieldToast(fieldT("required", { what: fieldT("where") }));
      return;
    }
    const body = { category: select.value, description: form.elements.description.value.trim() || null,
                   location: { lon: point.lon, lat: point.lat }, channel: "patrol" };
    const photos = Array.from(form.elements.photos.files);
    form.reset();
    FIELD.reportPlace = null;
    fieldShowReportPlace();
    await fieldEnqueue({ kind: "report", url: "/api/incidents", body, photos });
  });
}

// -- check-in and today's patrol -----------------------------------------------------------------------------------

function fieldToday() {
  const today = new Date().toDateString();
  let stored = null;
  try {
    stored = JSON.parse(fieldStored(FIELD_TODAY) || "null");
  } catch (error) { /* start over */ }
  return stored && stored.date === today ? stored : { date: today, reports: [] };
}

function fieldRemember(what, location) {
  const today = fieldToday();
  today[what].push(location);
  try {
    window.localStorage.setItem(FIELD_TODAY, JSON.stringify(today));
  } catch (error) { /* storage full: the map misses it */ }
}

function fieldBindCheckIn() {
  document.getElementById("field-checkin").addEventListener("click", async () => {
    if (!FIELD.position) {
      fieldToast(fieldT("no_position"));
      return;
    }
    const { lon, lat, accuracy } = FIELD.position;
    await fieldEnqueue({ kind: "checkin", url: "/api/workers/me/checkins",
                         body: { location: { lon, lat }, accuracy_m: Math.round(accuracy * 10) / 10 } });
    await fieldShowPatrol();
  });
}

async function fieldShowPatrol() {
  const start = new Date();
  start.setHours(0, 0, 0, 0);
  let checkins = [];
  try {
    checkins = (await fieldGet("/api/workers/me/checkins?limit=200")).filter((c) => Date.parse(c.at) >= start.getTime());
  } catch (error) { /* offline and nothing cached */ }
  const queued = (await fieldQueued()).filter((e) => e.kind === "checkin" || e.kind === "report");
  const reports = fieldToday().reports;
  document.getElementById("field-patrol").textContent =
    `${fieldT("checkins_today", { n: checkins.length })} · ${fieldT("reports_today", { n: reports.length })}`;
  const list = document.getElementById("field-patrol-list");
  list.replaceChildren(
    ...checkins.map((c) => gridmapEl("li", {
      text: `${new Date(c.at).toLocaleTimeString()} · ${(c.grid && c.grid.code) || ""} · ${fieldT("accuracy", { m: Math.round(c.accuracy_m || 0) })}` })),
    ...queued.map((e) => gridmapEl("li", { class: "field-queued", text: `${e.kind} · ${fieldT("pending", { n: 1 })}` })),
  );
  if (FIELD.layers.patrol) FIELD.layers.patrol.remove();
  const points = [
    ...checkins.map((c) => L.circleMarker([c.location.lat, c.location.lon], { radius: 6, color: "#2ca25f", weight: 2 })),
    ...reports.filter(Boolean).map((r) => L.circleMarker([r.lat, r.lon], { radius: 6, color: "#8856a7", weight: 2 })),
  ];
  FIELD.layers.patrol = L.layerGroup(points).addTo(FIELD.map);
}

// -- home visit ------------------------------------------------------------------------------------------------------

function fieldBindVisit() {
  document.getElementById("field-visit-pick").addEventListener("click", () => {
    FIELD.picking = "visit";
    fieldTab("map");
    fieldToast(fieldT("pick_building"));
  });
  const form = document.getElementById("field-visit-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!FIELD.visitBuilding) {
      fieldToast(fieldT("required", { what: fieldT("building") }));
      return;
    }
    const number = (name) => (form.elements[name].value === "" ? null : Number(form.elements[name].value));
    const body = { households: number("households"), population_resident: number("population_resident"),
                   note: form.elements.note.value.trim() || null };
    if (FIELD.position) {
      body.location = { lon: FIELD.position.lon, lat: FIELD.position.lat };
      body.accuracy_m = Math.round(FIELD.position.accuracy * 10) / 10;
    }
    const url = `/api/buildings/${FIELD.visitBuilding.id}/visits`;
    form.reset();
    FIELD.visitBuilding = null;
    document.getElementById("field-visit-building").textContent = `${fieldT("building")}: —`;
    await fieldEnqueue({ kind: "visit", url, body });
  });
}

async function fieldPickBuilding(latlng) {
  const d = 0.00005;  // about 5 m: the building under the finger
  const bbox = [latlng.lng - d, latlng.lat - d, latlng.lng + d, latlng.lat + d].map((v) => v.toFixed(7)).join(",");
  try {
    const found = await fieldGet(`/api/buildings?bbox=${bbox}&limit=1`);
    const feature = found.features && found.features[0];
    if (!feature) {
      fieldToast(fieldT("no_building"));
      return;
    }
    FIELD.visitBuilding = { id: feature.id, name: feature.properties.name || "" };
    document.getElementById("field-visit-building").textContent =
      fieldT("building_picked", { id: feature.id, name: feature.properties.name || "" });
  } catch (error) {
    if (!(error instanceof FieldSignedOut)) fieldToast(fieldT("failed") + error.message);
  }
  fieldTab("visit");
}

// -- new work as it comes (the incident event stream) ---------------------------------------------------------------

function fieldBeep() {
  try {
    if (!FIELD.audio) return;  // made on the first tap: browsers refuse sound before the user touches the page
    const oscillator = FIELD.audio.createOscillator();
    const gain = FIELD.audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.value = 0.2;
    oscillator.connect(gain).connect(FIELD.audio.destination);
    oscillator.start();
    oscillator.stop(FIELD.audio.currentTime + 0.25);
  } catch (error) { /* no sound */ }
}

async function fieldListen() {
  if (FIELD.events || !navigator.onLine || !fieldToken() || !window.EventSource) return;
  let ticket;
  try {
    const response = await fieldFetch("/api/events/ticket", { method: "POST" });
    if (!response.ok) return;
    ticket = (await response.json()).ticket;
  } catch (error) {
    return;
  }
  const after = FIELD.lastEventId !== null ? `&after=${FIELD.lastEventId}` : "";
  const source = new EventSource(`/api/events?ticket=${encodeURIComponent(ticket)}${after}`);
  FIELD.events = source;
  source.addEventListener("incident", (message) => {
    FIELD.lastEventId = Number(message.lastEventId);
    const event = JSON.parse(message.data);
    const user = FIELD.user ? FIELD.user.name : null;
    if (event.actor !== user) {  // my own actions are no news to me
      fieldSetBadge(FIELD.badge + 1);
      fieldBeep();
      fieldToast(fieldT("new_work", { id: event.incident_id }));
    }
    fieldLoadQueue();
  });
  source.addEventListener("error", () => {
    // The ticket in the URL is good for a minute: a closed stream gets a new one (from the last event seen).
    if (source.readyState === EventSource.CLOSED || !navigator.onLine) {
      source.close();
      if (FIELD.events === source) FIELD.events = null;
      if (navigator.onLine) setTimeout(fieldListen, 3000);
    }
  });
}

// -- my grids, the map ---------------------------------------------------------------------------------------------

async function fieldLoadGrids() {
  try {
    const grids = await fieldGet("/api/workers/me/grids");
    if (FIELD.layers.grids) FIELD.layers.grids.remove();
    FIELD.layers.grids = L.geoJSON(grids, {
      style: { color: "#1f6fb2", weight: 3, fillOpacity: 0.05 },
      onEachFeature: (feature, layer) => layer.bindTooltip(`${feature.properties.code} ${feature.properties.name || ""}`),
    }).addTo(FIELD.map);
    if (grids.features.length && !fieldLoadGrids.fitted) {
      fieldLoadGrids.fitted = true;
      FIELD.map.fitBounds(FIELD.layers.grids.getBounds(), { padding: [16, 16] });
    }
  } catch (error) { /* offline and never loaded: the map still shows the basemap */ }
}

async function fieldRefresh() {
  await Promise.all([fieldLoadQueue(), fieldLoadGrids()]);
}

async function fieldStart() {
  try {
    FIELD.user = JSON.parse(fieldStored(FIELD_USER) || "null");
  } catch (error) {
    FIELD.user = null;
  }
  document.getElementById("field-signout").hidden = false;
  await fieldShowBanner();
  await fieldRefresh();
  fieldFlush();
  fieldListen();
  document.body.dataset.ready = "true";  // the queue is shown (tests wait for it)
}

function fieldShowNet() {
  const net = document.getElementById("field-net");
  net.textContent = navigator.onLine ? fieldT("online") : fieldT("offline");
  net.classList.toggle("field-offline", !navigator.onLine);
}

async function fieldRegisterServiceWorker() {
  if (!navigator.serviceWorker) return;
  try {
    await navigator.serviceWorker.register(FIELD.config.sw, { scope: FIELD.config.scope });
    const ready = await navigator.serviceWorker.ready;
    // The page and everything it loaded before the worker took over: kept for starting offline.
    const manifest = document.querySelector("link[rel='manifest']");
    const urls = [window.location.href, manifest && manifest.href,
                  ...performance.getEntriesByType("resource").map((e) => e.name)]
      .filter(Boolean)
      .filter((url) => url.startsWith(window.location.origin) && !url.includes("/api/"));
    ready.active.postMessage({ type: "keep", urls });
  } catch (error) { /* no service worker (private mode): the app works online */ }
}

function gridmapField(map) {  // eslint-disable-line no-unused-vars
  FIELD.config = GRIDMAP_PAGE;
  FIELD.map = map;
  gridmapLanguageLinks(".gridmap-lang-link");
  for (const button of document.querySelectorAll(".field-tab")) {
    button.addEventListener("click", () => fieldTab(button.dataset.tab));
  }
  document.addEventListener("pointerdown", () => {
    if (!FIELD.audio && window.AudioContext) FIELD.audio = new AudioContext();
  }, { once: true });
  map.on("click", (event) => {
    if (FIELD.picking === "report") {
      FIELD.picking = null;
      FIELD.reportPlace = { lon: event.latlng.lng, lat: event.latlng.lat };
      if (FIELD.layers.picked) FIELD.layers.picked.remove();
      FIELD.layers.picked = L.marker(event.latlng).addTo(map);
      fieldTab("report");
      fieldShowReportPlace();
    } else if (FIELD.picking === "visit") {
      FIELD.picking = null;
      fieldPickBuilding(event.latlng);
    }
  });
  fieldBindSignIn();
  fieldBindReport();
  fieldBindCheckIn();
  fieldBindVisit();
  fieldShowNet();
  fieldTab("queue");
  window.addEventListener("online", () => {
    fieldShowNet();
    fieldFlush();
    fieldListen();
  });
  window.addEventListener("offline", () => {
    fieldShowNet();
    if (FIELD.events) FIELD.events.close();
    FIELD.events = null;
  });
  setInterval(() => { if (navigator.onLine) fieldFlush(); }, FIELD_FLUSH_MS);
  fieldWatchPosition();
  fieldRegisterServiceWorker();
  if (fieldToken()) fieldStart();
  else fieldShowSignIn();
}
