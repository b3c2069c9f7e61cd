// Basemaps. Chinese providers (AMap, Tencent) draw their tiles in GCJ-02: on such a basemap the map uses
// L.CRS.GCJ02, which projects every WGS 84 overlay through the GCJ-02 shift, so overlays line up with the
// tiles, while clicks still come back as WGS 84 (the inverse is iterative). Same formulas as
// gis/china_offsets.py. Loaded in the page header, before the map is created.
"use strict";

const GRIDMAP_GCJ = { a: 6378245.0, ee: 0.00669342162296594323, bounds: [72.004, 0.8293, 137.8347, 55.8271] };

function gridmapOutsideChina(lon, lat) {
  const [w, s, e, n] = GRIDMAP_GCJ.bounds;
  return !(lon > w && lon < e && lat > s && lat < n);
}

function gridmapGcjOffset(lon, lat) {
  const x = lon - 105.0, y = lat - 35.0, pi = Math.PI;
  let dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  dlat += (20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0 / 3.0;
  dlat += (20.0 * Math.sin(y * pi) + 40.0 * Math.sin(y / 3.0 * pi)) * 2.0 / 3.0;
  dlat += (160.0 * Math.sin(y / 12.0 * pi) + 320.0 * Math.sin(y * pi / 30.0)) * 2.0 / 3.0;
  let dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  dlon += (20.0 * Math.sin(6.0 * x * pi) + 20.0 * Math.sin(2.0 * x * pi)) * 2.0 / 3.0;
  dlon += (20.0 * Math.sin(x * pi) + 40.0 * Math.sin(x / 3.0 * pi)) * 2.0 / 3.0;
  dlon += (150.0 * Math.sin(x / 12.0 * pi) + 300.0 * Math.sin(x / 30.0 * pi)) * 2.0 / 3.0;
  const radlat = lat / 180.0 * pi;
  const magic = 1 - GRIDMAP_GCJ.ee * Math.sin(radlat) ** 2;
  const sqrtmagic = Math.sqrt(magic);
  dlat = (dlat * 180.0) / ((GRIDMAP_GCJ.a * (1 - GRIDMAP_GCJ.ee)) / (magic * sqrtmagic) * pi);
  dlon = (dlon * 180.0) / (GRIDMAP_GCJ.a / sqrtmagic * Math.cos(radlat) * pi);
  return [dlon, dlat];
}

function gridmapWgsToGcj(lon, lat) {
  if (gridmapOutsideChina(lon, lat)) return [lon, lat];
  const [dlon, dlat] = gridmapGcjOffset(lon, lat);
  return [lon + dlon, lat + dlat];
}

function gridmapGcjToWgs(lon, lat) {
  if (gridmapOutsideChina(lon, lat)) return [lon, lat];
  let wx = lon, wy = lat;
  for (let i = 0; i < 8; i++) {  // fixed point: the offset varies slowly, each step gains ~1000×
    const [dlon, dlat] = gridmapGcjOffset(wx, wy);
    wx -= wx + dlon - lon;
    wy -= wy + dlat - lat;
  }
  return [wx, wy];
}

L.Projection.GCJ02 = {
  R: L.Projection.SphericalMercator.R,
  MAX_LATITUDE: L.Projection.SphericalMercator.MAX_LATITUDE,
  bounds: L.Projection.SphericalMercator.bounds,
  project(latlng) {
    const [lon, lat] = gridmapWgsToGcj(latlng.lng, latlng.lat);
    return L.Projection.SphericalMercator.project(L.latLng(lat, lon));
  },
  unproject(point) {
    const gcj = L.Projection.SphericalMercator.unproject(point);
    const [lon, lat] = gridmapGcjToWgs(gcj.lng, gcj.lat);
    return L.latLng(lat, lon);
  },
};
L.CRS.GCJ02 = L.extend({}, L.CRS.EPSG3857, { code: "GCJ02", projection: L.Projection.GCJ02 });

// config: {name, url, crs: "wgs84"|"gcj02", subdomains, tms, attribution, vector} (maps/assets.py Basemap).
// The app's own basemap (vector: true) is drawn from /tiles/basemap by protomaps-leaflet with the light style
// of basemap_style.js; it needs nothing from outside. An online basemap is the default when one is configured,
// and the own basemap stays a choice beside it in a layers control.
function gridmapAddBasemap(map, config) {
  if (!config || !config.url) return null;
  if (config.vector) return gridmapOwnBasemap(map, config).addTo(map);
  const online = L.tileLayer(config.url, {
    subdomains: config.subdomains || "abc",
    tms: Boolean(config.tms),
    maxZoom: 19,
    attribution: config.attribution || "",
  }).addTo(map);
  const en = typeof GRIDMAP_PAGE !== "undefined" && GRIDMAP_PAGE.lang === "en";
  const choices = {};
  choices[en ? `Online basemap (${config.name})` : `在线底图（${config.name}）`] = online;
  choices[en ? "Own basemap (offline)" : "本地矢量底图（离线）"] = gridmapOwnBasemap(map, { attribution: "gridmap" });
  L.control.layers(choices, null, { position: "bottomright" }).addTo(map);
  return online;
}

function gridmapOwnBasemap(map, config) {
  const style = gridmapBasemapStyle();
  return protomapsL.leafletLayer({
    url: gridmapTileUrl(map, "basemap"),  // cut in the GCJ-02 grid when the map is drawn in it
    maxDataZoom: 16,  // deeper zooms scale the z16 data (footprints are not simplified from z16)
    paintRules: style.paintRules,
    labelRules: style.labelRules,
    backgroundColor: style.backgroundColor,
    lang: "zh",
    maxZoom: 19,
    attribution: config.attribution || "",
  });
}

// Vector tiles must be cut in the map's own grid: on a GCJ-02 map the server shifts them (?crs=gcj02).
function gridmapTileUrl(map, layer, params) {
  const query = new URLSearchParams(params || {});
  if (map.options.crs === L.CRS.GCJ02) query.set("crs", "gcj02");
  const qs = query.toString();
  return `/tiles/${layer}/{z}/{x}/{y}.pbf${qs ? "?" + qs : ""}`;
}
