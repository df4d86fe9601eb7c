// The console's entry point: tabs (keyboard-operable, one per view, kept in the URL's #hash), the API key, alerts.

import { api, apiKey, clearError } from "./api.js";
import * as catalog from "./catalog.js";
import * as classify from "./classify.js";
import * as model from "./model.js";
import * as search from "./search.js";
import * as shopper from "./shopper.js";
import * as trends from "./trends.js";

const VIEWS = { classify, catalog, search, shopper, model, trends };
const DEFAULT_VIEW = "classify";
const tabs = [...document.querySelectorAll('[role="tab"]')];
const started = new Set();

function select(name, { focus = false } = {}) {
  if (!(name in VIEWS)) name = DEFAULT_VIEW;
  for (const tab of tabs) {
    const on = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  clearError();
  const section = document.getElementById(`view-${name}`);
  if (!started.has(name)) {
    started.add(name);
    VIEWS[name].init(section);
  }
  document.title = `${document.getElementById(`tab-${name}`).textContent} · ShopLens console`;
  return VIEWS[name].show({ keyboard: focus }); // from the arrow keys: the focus stays on the tabs
}

function onTabKey(event) {
  const i = tabs.indexOf(event.target);
  const moves = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 };
  if (!(event.key in moves)) return;
  event.preventDefault();
  const next = tabs[(moves[event.key] + tabs.length) % tabs.length];
  select(next.dataset.view, { focus: true });
}

/** The key's state; without one, whether the server is in open mode, as its answer to a reader's request says. */
async function showKeyState() {
  const state = document.getElementById("key-state");
  const key = apiKey.get();
  state.textContent = key ? `set (…${key.slice(-4)})` : "none";
  if (key) return;
  try {
    await api("/v1/models"); // answered without a key only in open mode
    state.textContent = "none (open mode)";
  } catch (error) {
    if (error.status === 401) state.textContent = "none (this server needs one)";
  }
}

function setUpKey() {
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (value) apiKey.set(value);
    input.value = "";
    showKeyState();
    form.closest("details").open = false;
    location.reload(); // every view loads again with the key
  });
  document.getElementById("key-clear").addEventListener("click", () => {
    apiKey.clear();
    showKeyState();
    location.reload();
  });
  showKeyState();
}

for (const tab of tabs) {
  tab.addEventListener("click", () => select(tab.dataset.view));
  tab.addEventListener("keydown", onTabKey);
}
document.getElementById("alert-close").addEventListener("click", clearError);
document.querySelector("a.skip").addEventListener("click", (event) => {
  event.preventDefault(); // "#main" is no view: the hash keeps naming the view shown
  document.getElementById("main").focus();
});
window.addEventListener("hashchange", () => {
  const name = location.hash.slice(1);
  if (name in VIEWS) select(name);
});
setUpKey();
select(location.hash.slice(1));
