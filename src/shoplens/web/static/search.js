// Search view: words in, products out — full text over titles and brands fused with text-to-image search when
// the catalogue is embedded by an image–text backbone (GET /v1/search).

import { announce, api, badge, clearError, h, put, showError } from "./api.js";
import { productCard } from "./catalog.js";

const K = 24;
let section;
let request = 0;

/** Why a hit is there: its rank by words and by image. */
function reasons(hit) {
  return h("span", { class: "badges" },
    hit.text_rank ? badge(`words #${hit.text_rank}`) : null,
    hit.image_rank ? badge(`image #${hit.image_rank}`) : null);
}

async function run(q) {
  const grid = section.querySelector("#search-grid");
  const summary = section.querySelector("#search-summary");
  const mine = ++request;
  if (!q.trim()) {
    put(grid);
    summary.textContent = "";
    return;
  }
  grid.setAttribute("aria-busy", "true");
  let found;
  try {
    found = await api("/v1/search", { params: { q, k: K } });
  } catch (error) {
    if (mine !== request) return;
    grid.removeAttribute("aria-busy");
    showError(error, "The search failed");
    return;
  }
  if (mine !== request) return; // a newer query is on its way
  put(grid, ...found.results.map((hit) => productCard(hit.product, hit.image?.thumbnail_url, reasons(hit))));
  grid.removeAttribute("aria-busy");
  const how = found.model_version ? `words and images (model ${found.model_version})` : "titles and brands";
  const n = found.results.length;
  const count = n >= K ? `The best ${n} results` : `${n} result${n === 1 ? "" : "s"}`; // a full page: there may be more
  summary.textContent = n ? `${count} for “${q}”, by ${how}` : `Nothing found for “${q}”.`;
  announce(summary.textContent);
}

export function init(root) {
  section = root;
  const form = section.querySelector("#search-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clearError();
    run(form.elements.q.value);
  });
}

export async function show({ keyboard = false } = {}) {
  if (!keyboard) section.querySelector("#search-form").elements.q.focus(); // never while moving along the tabs
}
