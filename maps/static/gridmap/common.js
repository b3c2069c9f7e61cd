// Helpers every map page may use: HTML escaping, "{name}" templates, a small DOM builder, JSON requests
// (one error type carrying the API's problem+json detail), paged GeoJSON collections and language links.
// Loaded in the page header right after basemap.js (maps/assets.py offline_map), before the page's own script;
// nothing here touches the map or the page until a page calls it.
"use strict";

const GRIDMAP_ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

// Names come from imported data and users: escaped wherever they go into HTML. null/undefined become "".
function gridmapEscape(value) {
  return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, (c) => GRIDMAP_ENTITIES[c]);
}

// "{name}" placeholders filled from values; a placeholder without a value is left as it is.
function gridmapFormat(template, values) {
  const known = values || {};
  return String(template).replace(/\{(\w+)\}/g, (whole, key) =>
    (Object.prototype.hasOwnProperty.call(known, key) ? String(known[key]) : whole));
}

// Small DOM builder: text always goes through textContent, since descriptions and notes are user input.
function gridmapEl(tag, attrs, children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") el.textContent = value;
    else if (name === "style") el.style.cssText = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children || []) if (child) el.appendChild(child);
  return el;
}

function gridmapSleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A non-2xx answer: `status`, `detail` (the problem+json detail, else "HTTP <status>"), the parsed `body` (or
// null) and the `url` asked. The message is the detail (gridmapRequest's nameUrl puts the URL in front).
class GridmapHttpError extends Error {
  constructor(status, detail, body, url) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.body = body;
    this.url = url;
  }
}

// fetch → parsed JSON (null for an answer that is not JSON); a non-2xx answer throws GridmapHttpError.
// options are fetch's (method, headers, body, cache…) plus nameUrl: true, for pages that load several
// collections side by side and say in the message which request failed.
async function gridmapRequest(url, options) {
  const init = Object.assign({}, options || {});
  const nameUrl = Boolean(init.nameUrl);
  delete init.nameUrl;
  const response = await fetch(url, init);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const detail = (body && (body.detail || body.title)) || `HTTP ${response.status}`;
    const error = new GridmapHttpError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail),
                                       body, url);
    if (nameUrl) error.message = `${url}: ${error.message}`;
    throw error;
  }
  return body;
}

// Every page of a paged GeoJSON collection (numberMatched / numberReturned); options as for gridmapRequest.
async function gridmapFetchPages(url, pageSize, options) {
  const features = [];
  for (let offset = 0; ; offset += pageSize) {
    const sep = url.includes("?") ? "&" : "?";
    const page = await gridmapRequest(`${url}${sep}limit=${pageSize}&offset=${offset}`, options);
    features.push(...page.features);
    if (page.numberReturned < pageSize || features.length >= page.numberMatched) break;
  }
  return { type: "FeatureCollection", features };
}

// Language links keep the page's other parameters (plan, basemap, …): only `lang` changes. The language is
// the link's data-lang, else its hreflang.
function gridmapLanguageLinks(selector) {
  for (const link of document.querySelectorAll(selector)) {
    const query = new URLSearchParams(window.location.search);
    query.set("lang", link.dataset.lang || link.hreflang);
    link.href = `?${query}`;
  }
}
