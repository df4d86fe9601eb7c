// Talking to the ShopLens API: JSON calls with the API key, readable errors, images, and small DOM helpers.

const KEY_STORAGE = "shoplens.apiKey";
const blobs = new Map(); // image URL → object URL (key mode: images are fetched with the key, then shown as blobs)
const MAX_BLOBS = 400;

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_STORAGE) || "",
  set(value) {
    sessionStorage.setItem(KEY_STORAGE, value);
    forgetBlobs();
  },
  clear() {
    sessionStorage.removeItem(KEY_STORAGE);
    forgetBlobs();
  },
};

function forgetBlobs() {
  for (const url of blobs.values()) URL.revokeObjectURL(url);
  blobs.clear();
}

/** An API answer that is not 2xx: the status and the API's own words (its JSON `detail`). */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function detailOf(data, res) {
  const detail = data && data.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  return `the server answered ${res.status} ${res.statusText}`.trim();
}

function authHeaders() {
  const key = apiKey.get();
  return key ? { "X-API-Key": key } : {};
}

/** Call the API; resolves to the parsed JSON (null for 204), rejects with an ApiError carrying `detail`. */
export async function api(path, { method = "GET", params, json, form } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json", ...authHeaders() };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body });
  } catch {
    throw new ApiError(0, "the server cannot be reached (is `shoplens serve` running?)");
  }
  if (res.status === 204) return null;
  const isJson = (res.headers.get("content-type") || "").includes("json");
  const data = isJson ? await res.json().catch(() => null) : null;
  if (!res.ok) throw new ApiError(res.status, detailOf(data, res));
  return data;
}

/** Show an image from the API: directly in open mode, fetched with the key (as a blob) otherwise. */
export async function setImage(img, url) {
  if (!url) return;
  const key = apiKey.get();
  if (!key) {
    img.src = url;
    return;
  }
  let objectUrl = blobs.get(url);
  if (!objectUrl) {
    try {
      const res = await fetch(url, { headers: authHeaders() });
      if (!res.ok) throw new ApiError(res.status, "image not available");
      objectUrl = URL.createObjectURL(await res.blob());
    } catch {
      img.dispatchEvent(new Event("error")); // as a failed src would
      return;
    }
    if (blobs.size >= MAX_BLOBS) {
      const [oldest, oldUrl] = blobs.entries().next().value;
      URL.revokeObjectURL(oldUrl);
      blobs.delete(oldest);
    }
    blobs.set(url, objectUrl);
  }
  img.src = objectUrl;
}

/** Build an element: h("p", {class: "x", onclick: fn}, "text", child, ...). Text is never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  add(el, ...children);
  return el;
}

const present = (children) => children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false);

/** Replace an element's children, leaving out null, undefined and false (the DOM would write "null"). */
export const put = (el, ...children) => el.replaceChildren(...present(children));

/** Append children, leaving out null, undefined and false. */
export const add = (el, ...children) => el.append(...present(children));

/** An <img> of an API image with its alt text (lazy, sized by CSS). */
export function apiImage(url, alt, attrs = {}) {
  const img = h("img", { alt, ...attrs });
  img.addEventListener("error", () => img.classList.add("broken"), { once: true });
  setImage(img, url);
  return img;
}

export const pct = (p, digits = 1) => `${(100 * p).toFixed(digits)} %`;
export const money = (v) => (v === null || v === undefined ? "—" : `€${Number(v).toFixed(2)}`);
export const FLAG_NAMES = { mismatch: "category mismatch", duplicate: "near-duplicate", low_quality: "low quality", not_a_product: "not a product" };

/** A flag as a badge. */
export const badge = (text, kind = "") => h("span", { class: `badge ${kind}`.trim() }, text);

/** A unique id for an event (the API ignores an event id it has seen, so retries are safe). */
export function newId(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${prefix}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Show an error where the person is looking: the open dialog's alert region, else the page's. */
export function showError(error, context) {
  const detail = error instanceof Error ? error.message : String(error);
  const text = context ? `${context}: ${detail}` : detail;
  const inDialog = document.querySelector("dialog[open] .dialog-alert");
  if (inDialog) {
    inDialog.textContent = text;
    inDialog.hidden = false;
    return;
  }
  const alert = document.getElementById("alert");
  document.getElementById("alert-text").textContent = text;
  alert.hidden = false;
}

export function clearError() {
  document.getElementById("alert").hidden = true;
  document.getElementById("alert-text").textContent = "";
  for (const el of document.querySelectorAll(".dialog-alert")) el.hidden = true;
}

/** Announce a short status to assistive technology (and keep it visible in the element given). */
export function announce(text) {
  const status = document.getElementById("status");
  status.textContent = "";
  requestAnimationFrame(() => (status.textContent = text));
}
