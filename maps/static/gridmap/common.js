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

// -- signing in (staff pages: maps/login.py puts the form in the page) -------------------------------------
// The access token lives in this tab's sessionStorage (gone when the tab closes) and goes as Authorization on
// every gridmapRequest. A 401 on a page with the form drops it, shows the form and retries the request once
// signed in. Public pages have no form and send no token.
const GRIDMAP_TOKEN_KEY = "gridmap.token";
const GRIDMAP_USER_KEY = "gridmap.user";
let gridmapSigningIn = null;  // one shared promise while the form is up, however many requests wait on it

function gridmapStored(key) {
  try {
    return window.sessionStorage.getItem(key);
  } catch (error) {  // storage disabled: the user signs in again on every page
    return null;
  }
}

function gridmapToken() {
  return gridmapStored(GRIDMAP_TOKEN_KEY);
}

function gridmapSignedInUser() {
  try {
    return JSON.parse(gridmapStored(GRIDMAP_USER_KEY) || "null");
  } catch (error) {
    return null;
  }
}

function gridmapForget() {
  try {
    window.sessionStorage.removeItem(GRIDMAP_TOKEN_KEY);
    window.sessionStorage.removeItem(GRIDMAP_USER_KEY);
  } catch (error) { /* nothing stored */ }
}

// The badge in the page's panel: who is signed in, and the sign-out link.
function gridmapShowUser() {
  const badge = document.getElementById("gridmap-user");
  const user = gridmapSignedInUser();
  if (!badge) return;
  badge.hidden = !user;
  if (user) badge.querySelector(".gridmap-user-name").textContent = `${user.name} (${user.role})`;
  const logout = document.getElementById("gridmap-logout");
  if (logout && !logout.dataset.bound) {
    logout.dataset.bound = "true";
    logout.addEventListener("click", async (event) => {
      event.preventDefault();
      const token = gridmapToken();
      // Ends the token on the server too, so a copy of it stops working; offline, forgetting it is all we can do.
      if (token) {
        await fetch("/api/auth/sign-out", { method: "POST", headers: { Authorization: `Bearer ${token}` } })
          .catch(() => null);
      }
      gridmapForget();
      window.location.reload();  // the page starts over at the form
    });
  }
}

// Shows the form; resolves with the user once signed in. `reason`: "expired" after a 401.
function gridmapSignIn(reason) {
  const dialog = document.getElementById("gridmap-login");
  if (!dialog) return Promise.reject(new Error("this page has no sign-in form"));
  if (gridmapSigningIn) return gridmapSigningIn;
  const form = document.getElementById("gridmap-login-form");
  const error = dialog.querySelector(".gridmap-login-error");
  const button = form.querySelector("button[type='submit']");
  const say = (text) => { error.textContent = text || ""; error.hidden = !text; };
  say(reason === "expired" ? form.dataset.expired : "");
  dialog.hidden = false;
  form.elements.username.focus();
  gridmapSigningIn = new Promise((resolve) => {
    const submit = async (event) => {
      event.preventDefault();
      button.disabled = true;
      say(form.dataset.signingIn);
      try {
        const response = await fetch("/api/auth/token", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json",
                     "Accept-Language": gridmapPageLang() },
          body: new URLSearchParams({ username: form.elements.username.value, password: form.elements.password.value }),
        });
        const body = await response.json().catch(() => null);
        if (!response.ok) {
          say(response.status === 401 ? form.dataset.wrong : form.dataset.failed + ((body && body.detail) || response.status));
          return;
        }
        window.sessionStorage.setItem(GRIDMAP_TOKEN_KEY, body.access_token);
        window.sessionStorage.setItem(GRIDMAP_USER_KEY, JSON.stringify(body.user));
        form.removeEventListener("submit", submit);
        form.elements.password.value = "";
        say("");
        dialog.hidden = true;
        gridmapSigningIn = null;
        gridmapShowUser();
        resolve(body.user);
      } catch (failure) {
        say(form.dataset.failed + failure.message);
      } finally {
        button.disabled = false;
      }
    };
    form.addEventListener("submit", submit);
  });
  return gridmapSigningIn;
}

// Staff pages call this first: the form when nobody is signed in in this tab, else straight on.
async function gridmapEnsureSignedIn() {
  if (!gridmapToken()) await gridmapSignIn();
  gridmapShowUser();
  return gridmapSignedInUser();
}

// fetch → parsed JSON (null for an answer that is not JSON); a non-2xx answer throws GridmapHttpError.
// options are fetch's (method, headers, body, cache…) plus nameUrl: true, for pages that load several
// collections side by side and say in the message which request failed. The signed-in user's token goes along.
async function gridmapRequest(url, options) {
  const init = Object.assign({}, options || {});
  const nameUrl = Boolean(init.nameUrl);
  delete init.nameUrl;
  const token = gridmapToken();
  // The API words its problems in the page's language (api/errors.py), whatever the browser prefers.
  init.headers = Object.assign({ "Accept-Language": gridmapPageLang() }, init.headers || {});
  if (token) init.headers = Object.assign({ Authorization: `Bearer ${token}` }, init.headers);
  const response = await fetch(url, init);
  if (response.status === 401 && document.getElementById("gridmap-login")) {
    gridmapForget();  // expired or revoked: sign in again, then the same request once more
    await gridmapSignIn(token ? "expired" : undefined);
    return gridmapRequest(url, options);
  }
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const detail = (body && (body.detail || body.title)) || `HTTP ${response.status}`;
    const text = gridmapRefusal(response.status, typeof detail === "string" ? detail : JSON.stringify(detail));
    const error = new GridmapHttpError(response.status, text, body, url);
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

// -- phones and tablets (issue 16) --------------------------------------------------------------------------------
// The staff editors (planner, dispatch) need room: below 768 CSS pixels they open read-only with a note.
const GRIDMAP_NARROW = "(max-width: 767px)";
const GRIDMAP_PHONE_TEXT = {
  zh: {
    readOnly: "在手机上只读，编辑请用平板或电脑",
    fieldApp: "网格员请使用手机工作台：",
    fieldLink: "打开网格员工作台",
  },
  en: {
    readOnly: "Read-only on a phone: edit on a tablet or a computer",
    fieldApp: "Grid workers use the field app: ",
    fieldLink: "open the field app",
  },
};

function gridmapNarrow() {
  return window.matchMedia(GRIDMAP_NARROW).matches;
}

// The page's language: its configuration's, else Chinese (the default of every page).
function gridmapPageLang() {
  return typeof GRIDMAP_PAGE !== "undefined" && GRIDMAP_PAGE && GRIDMAP_PAGE.lang === "en" ? "en" : "zh";
}

function gridmapPhoneText(key) {
  return GRIDMAP_PHONE_TEXT[gridmapPageLang()][key];
}

// fitBounds padding that fits the map: a padding wider (or taller) than the map makes Leaflet compute an
// invalid zoom, and the page fails with "Invalid LatLng object: (NaN, NaN)". Too much padding is dropped.
function gridmapFitPadding(map, topLeft, bottomRight) {
  const size = map.getSize();
  const fit = (a, b, room) => (a + b > room * 0.6 ? [Math.min(a, 10), Math.min(b, 10)] : [a, b]);
  const [left, right] = fit(topLeft[0], bottomRight[0], size.x);
  const [top, bottom] = fit(topLeft[1], bottomRight[1], size.y);
  return { paddingTopLeft: [left, top], paddingBottomRight: [right, bottom] };
}

// Refusals in the page's language: the API answers problem+json in Chinese for Accept-Language zh (every request
// says the page's language), and these few statuses get a sentence of their own when the answer has no Chinese.
const GRIDMAP_REFUSALS = {
  zh: {
    401: "请先登录",
    403: "您的账号无权执行此操作",
    409: "操作与当前状态冲突",
    412: "数据已被他人修改，请刷新后重试",
    422: "提交的内容不符合要求",
  },
  en: {
    401: "Please sign in",
    403: "Your account may not do this",
    409: "This conflicts with the current state",
    412: "Someone else changed this: reload and try again",
    422: "The input was not accepted",
  },
};

function gridmapRefusal(status, detail) {
  const lang = gridmapPageLang();
  const known = GRIDMAP_REFUSALS[lang][status];
  if (!known) return detail;
  if (!detail || /^HTTP \d+$/.test(detail)) return known;
  if (lang === "zh" && !/[\u4e00-\u9fff]/.test(detail)) return known;  // no raw English on a Chinese page
  return detail;
}
