// The field app's service worker (served as /field/sw.js, scope /field; maps/field_page.py).
// - the app shell (the page, our scripts and styles, vendor files): cache first, refreshed in the background;
// - basemap and layer tiles (/tiles/…): cache first — what the worker has seen of their grids stays on the phone;
// - the API's GETs (queue, grids, check-ins, incidents): network first, the cached answer when offline;
// - writes are never handled here: the page queues them in IndexedDB (field.js) and sends them when online.
"use strict";

const SHELL = "gridmap-field-shell-v1";
const TILES = "gridmap-field-tiles-v1";
const API = "gridmap-field-api-v1";
const KEPT = [SHELL, TILES, API];

self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (!KEPT.includes(name)) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  const message = event.data || {};
  if (message.type === "keep") {
    // What the page loaded before this worker controlled it: fetched again into the shell cache.
    event.waitUntil(Promise.all(message.urls.map(async (url) => {
      const cache = await caches.open(new URL(url).pathname.startsWith("/tiles/") ? TILES : SHELL);
      if (await cache.match(url)) return;
      const response = await fetch(url, { credentials: "same-origin" }).catch(() => null);
      if (response && response.ok) await cache.put(url, response);
    })));
  } else if (message.type === "forget") {
    event.waitUntil(caches.delete(API));  // the signed-out worker's answers
  }
});

async function cacheFirst(request, name, missing) {
  const cache = await caches.open(name);
  const found = await cache.match(request);
  const fresh = fetch(request).then((response) => {
    if (response.ok) cache.put(request, response.clone());
    return response;
  });
  if (found) {
    fresh.catch(() => null);  // refreshed for next time; offline, the cached copy is all there is
    return found;
  }
  return missing ? fresh.catch(missing) : fresh;
}

// A tile never seen, offline: drawn empty rather than failed (the map shows what it has, and logs nothing).
const EMPTY_TILE = () => new Response(new ArrayBuffer(0), {
  status: 200, headers: { "Content-Type": "application/vnd.mapbox-vector-tile", "X-Gridmap-Offline": "empty" },
});

async function networkFirst(request, name, fallback) {
  const cache = await caches.open(name);
  try {
    const response = await fetch(request);
    if (response.ok) cache.put(request, response.clone());
    return response;
  } catch (error) {
    const found = (await cache.match(request)) || (fallback ? await cache.match(fallback, { ignoreSearch: true }) : null);
    if (found) return found;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, SHELL, "/field"));
  } else if (url.pathname.startsWith("/tiles/")) {
    event.respondWith(cacheFirst(request, TILES, EMPTY_TILE));
  } else if (url.pathname.startsWith("/static/") || url.pathname === "/field/manifest.webmanifest") {
    event.respondWith(cacheFirst(request, SHELL));
  } else if (url.pathname === "/api/events" || url.pathname.startsWith("/api/uploads")) {
    // the live stream is never cached; photos are personal and large: straight to the network
  } else if (url.pathname.startsWith("/api/")) {
    event.respondWith(networkFirst(request, API));
  }
});
