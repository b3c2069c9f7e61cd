// Residents' report page (/report, maps/report_page.py): choose the spot (my location, a tap on the map, or a name
// from /api/search), a category, a description, an optional photo and contact; POST /api/incidents with an
// Idempotency-Key, then show the tracking number. Plain ES2017, no inline handlers (the CSP forbids them).
"use strict";

const GRIDMAP_REPORT_JSON = { headers: { Accept: "application/json" } };

// A random key per report: retries of the same report (a double tap, a resend after a lost answer) carry it, so
// the server makes one incident. crypto.randomUUID exists only in secure contexts (https, localhost); an intranet
// server over plain http gets the same 122 random bits from getRandomValues.
function gridmapNewKey() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function gridmapReport(map) {
  const config = GRIDMAP_PAGE;
  const text = config.text;
  const $ = (id) => document.getElementById(id);
  const kinds = Object.fromEntries(text.kinds.split(",").map((pair) => pair.split("=")));
  const state = { place: null, marker: null, key: gridmapNewKey(), sending: false };
  gridmapLanguageLinks(".gridmap-lang-link");

  const select = $("gridmap-category");
  select.appendChild(gridmapEl("option", { value: "", text: text.choose_category }));
  for (const category of config.categories) {
    select.appendChild(gridmapEl("option", { value: category.code, text: category.name }));
  }

  function status(message, isError) {
    const line = $("gridmap-report-status");
    line.textContent = message || "";
    line.classList.toggle("gridmap-error", Boolean(isError));
  }

  // The chosen spot: one marker (a circle: no marker images to fetch), and a line saying what it is.
  function choose(lon, lat, label) {
    state.place = { lon, lat };
    const at = [lat, lon];
    if (state.marker) state.marker.setLatLng(at);
    else {
      state.marker = L.circleMarker(at, {
        radius: 9, color: "#fff", weight: 3, fillColor: "#d7191c", fillOpacity: 1, className: "gridmap-report-spot",
      }).addTo(map);
    }
    $("gridmap-place").textContent = gridmapFormat(text.place_chosen, { where: label });
    $("gridmap-place").classList.add("gridmap-place-chosen");
    status("");
  }

  map.on("click", (event) => {
    choose(Number(event.latlng.lng.toFixed(7)), Number(event.latlng.lat.toFixed(7)), text.map_point);
  });

  $("gridmap-locate-me").addEventListener("click", () => {
    if (!navigator.geolocation) {
      status(gridmapFormat(text.locate_failed, { reason: "geolocation" }), true);
      return;
    }
    status(text.locating);
    navigator.geolocation.getCurrentPosition(
      (position) => {
        const { longitude, latitude, accuracy } = position.coords;
        choose(longitude, latitude, gridmapFormat(text.my_location, { m: Math.round(accuracy || 0) }));
        map.setView([latitude, longitude], Math.max(map.getZoom(), 17));
      },
      (error) => status(gridmapFormat(text.locate_failed, { reason: error.message || error.code }), true),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
    );
  });

  // Name search: public base data only (buildings, compounds, facilities).
  async function search() {
    const query = $("gridmap-search").value.trim();
    const list = $("gridmap-search-results");
    list.replaceChildren();
    if (!query) return;
    try {
      const found = await gridmapRequest(`/api/search?q=${encodeURIComponent(query)}&limit=8`, GRIDMAP_REPORT_JSON);
      if (!found.features.length) {
        list.appendChild(gridmapEl("li", { class: "gridmap-hint", text: text.no_results }));
        return;
      }
      for (const feature of found.features) {
        const p = feature.properties;
        const [lon, lat] = feature.geometry.coordinates;
        const label = `${p.name}${p.community ? ` · ${p.community}` : ""}`;
        const button = gridmapEl("button", { type: "button", class: "gridmap-search-hit" }, [
          gridmapEl("span", { class: "gridmap-search-kind", text: kinds[p.kind] || p.kind }),
          gridmapEl("span", { text: label }),
        ]);
        button.addEventListener("click", () => {
          choose(lon, lat, label);
          map.setView([lat, lon], Math.max(map.getZoom(), 17));
          list.replaceChildren();
        });
        list.appendChild(gridmapEl("li", {}, [button]));
      }
    } catch (error) {
      list.appendChild(gridmapEl("li", { class: "gridmap-error", text: error.message }));
    }
  }
  $("gridmap-search-go").addEventListener("click", search);
  $("gridmap-search").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {  // Enter searches; it must not send the report
      event.preventDefault();
      search();
    }
  });

  // The photo goes first to /api/uploads (checked and stripped of its location there); the report names its id.
  async function uploadPhoto() {
    const file = $("gridmap-photo").files[0];
    if (!file) return [];
    const form = new FormData();
    form.append("file", file);
    try {
      const uploaded = await gridmapRequest("/api/uploads", { method: "POST", body: form });
      return [uploaded.id];
    } catch (error) {
      status(gridmapFormat(text.photo_failed, { reason: error.message }), true);
      return [];
    }
  }

  $("gridmap-report-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (state.sending) return;
    if (!state.place) { status(text.need_place, true); return; }
    if (!select.value) { status(text.need_category, true); select.focus(); return; }
    state.sending = true;
    const button = $("gridmap-submit");
    button.disabled = true;
    status(text.submitting);
    try {
      const photos = await uploadPhoto();
      const body = {
        category: select.value,
        location: state.place,
        description: $("gridmap-description").value.trim() || null,
        reporter_contact: $("gridmap-contact").value.trim() || null,
        channel: "web",
      };
      if (photos.length) body.photos = photos;
      const answer = await gridmapRequest("/api/incidents", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": state.key },
        body: JSON.stringify(body),
      });
      const number = answer.tracking_number;
      $("gridmap-tracking-number").textContent = number;
      $("gridmap-track-link").href = `/report/${encodeURIComponent(number)}?lang=${config.lang}`;
      $("gridmap-report-form").hidden = true;
      $("gridmap-result").hidden = false;
      $("gridmap-result").scrollIntoView({ block: "start" });
    } catch (error) {
      status(gridmapFormat(text.failed, { reason: error.message }), true);
    } finally {
      state.sending = false;
      button.disabled = false;
    }
  });

  // Community outlines: where the grids are, also without a basemap. The page is ready (data-ready, for tests and
  // scripts) once they are drawn or have failed.
  gridmapFetchPages("/api/communities", 500, GRIDMAP_REPORT_JSON)
    .then((communities) => {
      L.geoJSON(communities, {
        interactive: false,
        style: () => ({ color: "#2171b5", weight: 1.5, fillOpacity: 0.04, dashArray: "4 3" }),
      }).addTo(map);
    })
    .catch((error) => status(error.message, true))
    .finally(() => { $("gridmap-report").dataset.ready = "true"; });
}
