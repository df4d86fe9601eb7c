// Shopper view: a demo shopper's profile, recommendations with their reasons and ads; clicks are recorded as events.

import { ApiError, add, announce, api, apiImage, badge, clearError, h, money, newId, pct, put, showError } from "./api.js";
import { barList } from "./charts.js";

const SLOTS = 2;
const K = 8;
let section;
let body;
let current = "";
let listed = false;
const sessions = new Map(); // shopper id → this page's session id for them: short, whatever the id's length

function sessionOf(user) {
  if (!sessions.has(user)) sessions.set(user, newId("console"));
  return sessions.get(user);
}

/** What a refused request means to the person: no key, a key without the right, or the API's own words. */
function refusal(error) {
  if (error.status === 401) return `an API key is needed (${error.message})`;
  if (error.status === 403) return `this API key may not see it (${error.message})`;
  return error.message;
}

async function loadUsers() {
  const select = section.querySelector("#shopper-select");
  let answer = { users: [], pseudonymised: false };
  let note = null;
  try {
    answer = await api("/v1/users", { params: { limit: 20 } });
  } catch (error) {
    showError(error, "Shoppers could not be listed");
    note = [401, 403].includes(error.status) ? "not listed: no access with this key; type an id" : "not listed: type an id";
  }
  const options = answer.users.map((u) => h("option", { value: u.user_id }, `${u.user_id} (${u.events} events)`));
  note ??= answer.pseudonymised ? "ids are pseudonymised: type one" : "none yet: type an id";
  put(select, options.length ? h("option", { value: "" }, "— choose —") : h("option", { value: "" }, note), ...options);
  if (current) select.value = current;
}

function profilePanel(user, profile, error) {
  const panel = h("section", { class: "panel", "aria-labelledby": "profile-heading" },
    h("h2", { id: "profile-heading" }, `Profile of ${user}`));
  if (error) {
    add(panel, h("p", { class: "warning profile-refused" }, `The profile cannot be shown: ${refusal(error)}.`));
    return panel;
  }
  if (!profile) {
    add(panel, h("p", { class: "muted" }, "No events yet: recommendations are what is trending. Click a product to start a history."));
    return panel;
  }
  const top = profile.top_categories;
  const most = Math.max(...top.map((c) => c.weight), 0) || 1;
  add(panel, 
    h("p", {}, `${profile.events} events · ${profile.recent.length} products seen recently`),
    h("h3", {}, "Top categories"),
    top.length
      ? barList(top.map((c) => ({ label: c.category, value: c.weight / most, text: pct(c.weight, 0) })),
        { label: "Top categories by share of activity", kind: "accent" })
      : h("p", { class: "muted" }, "No category yet."));
  return panel;
}

async function recordProduct(user, item) {
  const event = { event_id: newId("console"), user_id: user, type: "click", product_id: item.product_id,
    timestamp: new Date().toISOString(), session_id: sessionOf(user) };
  const answer = await api("/v1/events", { method: "POST", json: { events: [event] } });
  const result = answer.results[0];
  if (result.status === "rejected") throw new ApiError(result.code, result.reason);
}

function recsPanel(user, recs) {
  const grid = h("ul", { class: "grid", id: "recs", "aria-label": `Recommendations for ${user}` },
    recs.items.map((item) => h("li", { class: "card", "data-product-id": item.product_id },
      h("button", {
        type: "button", class: "card-button", onclick: () => act(user, `a click on ${item.title}`, () => recordProduct(user, item)),
      },
      apiImage(item.image_url, item.title),
      h("span", { class: "card-title" }, item.title),
      h("span", { class: "muted small" }, `${item.category || "no category"} · ${money(item.price)}`),
      h("span", { class: "reason" }, badge(item.source), " ", item.reason)))));
  return h("section", { class: "panel", "aria-labelledby": "recs-heading" },
    h("h2", { id: "recs-heading" }, "Recommended"),
    recs.cold_start ? h("p", { class: "muted small" }, "No history yet: trending products of trending categories.") : null,
    recs.items.length ? grid : h("p", { class: "muted" }, "Nothing to recommend: the catalogue has no product in stock."));
}

function adEvent(user, ad, kind) {
  const event = { event_id: newId(`console-${kind}`), user_id: user, session_id: sessionOf(user) };
  if (kind === "click") event.impression_token = ad.impression_token;  // the proof that this shopper saw the ad
  return api(`/v1/ads/${ad.creative.id}/${kind}`, { method: "POST", json: event });
}

function adsPanel(user, selection) {
  const panel = h("section", { class: "panel", "aria-labelledby": "ads-heading" }, h("h2", { id: "ads-heading" }, "Sponsored"));
  if (!selection) {
    add(panel, h("p", { class: "muted" }, "Ads are not available."));
    return panel;
  }
  const slots = [];
  for (let i = 0; i < SLOTS; i++) {
    const ad = selection.ads[i];
    slots.push(h("li", { class: "ad-slot", "data-slot": i + 1 }, ad
      ? h("button", { type: "button", class: "card-button ad", onclick: () => act(user, `a click on the ad ${ad.creative.headline}`, () => adEvent(user, ad, "click")) },
        apiImage(ad.creative.thumbnail_url, ad.creative.headline),
        h("span", { class: "card-title" }, ad.creative.headline),
        h("span", { class: "muted small" }, `${ad.campaign_name} · ${ad.creative.predicted_category || ""}`), badge("Ad"))
      : h("p", { class: "muted small" }, `Slot ${i + 1}: no eligible ad`)));
  }
  add(panel, h("ul", { class: "ads" }, slots),
    h("p", { class: "muted small" }, `Segment ${selection.segment} · ${selection.eligible} eligible creative(s)`));
  for (const ad of selection.ads.slice(0, SLOTS)) {
    adEvent(user, ad, "impression").catch((error) => {
      if (current === user) showError(error, `The impression of the ad ${ad.creative.headline} was not recorded`);
    });
  }
  return panel;
}

async function load(user) {
  current = user;
  clearError();
  body.setAttribute("aria-busy", "true");
  const [profile, recs, ads] = await Promise.allSettled([
    api(`/v1/users/${encodeURIComponent(user)}/profile`),
    api(`/v1/users/${encodeURIComponent(user)}/recommendations`, { params: { k: K } }),
    api("/v1/ads/select", { params: { user_id: user, slots: SLOTS } }),
  ]);
  body.removeAttribute("aria-busy");
  if (current !== user) return; // another shopper was picked meanwhile
  const noProfile = profile.status === "rejected" && profile.reason.status === 404;
  const refused = profile.status === "rejected" && !noProfile ? profile.reason : null;
  if (refused) showError(refused, "The profile could not be loaded");
  if (recs.status === "rejected") showError(recs.reason, "Recommendations could not be loaded");
  if (ads.status === "rejected") showError(ads.reason, "Ads could not be selected");
  put(body, 
    h("div", { class: "shopper-layout" },
      profilePanel(user, profile.status === "fulfilled" ? profile.value : null, refused),
      adsPanel(user, ads.status === "fulfilled" ? ads.value : null)),
    recs.status === "fulfilled" ? recsPanel(user, recs.value) : null);
}

async function act(user, what, record) {
  try {
    await record();
  } catch (error) {
    showError(error, `${what} was not recorded`);
    return;
  }
  await load(user);
  announce(`Recorded ${what}; recommendations updated`);
}

export function init(root) {
  section = root;
  body = section.querySelector("#shopper-body");
  const form = section.querySelector("#shopper-form");
  const select = section.querySelector("#shopper-select");
  const typed = section.querySelector("#shopper-id");
  select.addEventListener("change", () => {
    if (!select.value) return;
    typed.value = "";
    load(select.value);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const user = typed.value.trim() || select.value;
    if (user) load(user);
  });
}

export async function show() {
  if (!listed) {
    listed = true;
    await loadUsers();
  }
  if (current) await load(current);
}
