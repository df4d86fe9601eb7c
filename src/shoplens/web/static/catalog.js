// Catalogue view: a filtered grid of products, and a product's detail where its merchant can correct the category.

import { FLAG_NAMES, announce, api, apiImage, badge, clearError, h, money, pct, put, showError } from "./api.js";

const PAGE = 24;
const state = { offset: 0, total: 0, categories: [], request: 0, opened: null };
let section;
let loaded = false;
let typing = null;

/** A product as a card that opens its detail. */
export function productCard(product, imageUrl, extra) {
  return h("li", { class: "card", "data-product-id": product.id },
    h("button", { type: "button", class: "card-button", onclick: () => openProduct(product.id) },
      apiImage(imageUrl || product.images[0]?.thumbnail_url, product.title),
      h("span", { class: "card-title" }, product.title),
      h("span", { class: "muted small" }, `${product.merchant} · ${product.category || "no category"}`),
      extra));
}

const flagBadges = (flags) => flags.map((f) => badge(FLAG_NAMES[f] || f, f === "low_quality" ? "warn" : "danger"));

function filters() {
  const data = new FormData(section.querySelector("#catalog-filters"));
  return Object.fromEntries([...data.entries()].filter(([, v]) => v !== ""));
}

async function loadGrid() {
  const grid = section.querySelector("#catalog-grid");
  const summary = section.querySelector("#catalog-summary");
  grid.setAttribute("aria-busy", "true");
  const request = ++state.request;
  let page;
  try {
    page = await api("/v1/products", { params: { ...filters(), limit: PAGE, offset: state.offset } });
  } catch (error) {
    if (request !== state.request) return;
    grid.removeAttribute("aria-busy");
    showError(error, "The catalogue could not be loaded");
    return;
  }
  if (request !== state.request) return; // the filters changed meanwhile: a newer answer is on its way
  state.total = page.total;
  const focused = grid.contains(document.activeElement) ? document.activeElement.closest("[data-product-id]") : null;
  put(grid, ...page.items.map((p) => productCard(p, null, p.flags.length ? h("span", { class: "badges" }, flagBadges(p.flags)) : null)));
  if (focused) returnFocus(focused.dataset.productId); // drawn again under the focus: keep it in the catalogue
  grid.removeAttribute("aria-busy");
  const last = Math.min(page.offset + page.items.length, page.total);
  summary.textContent = page.total
    ? `${page.total} product${page.total === 1 ? "" : "s"} · showing ${page.offset + 1}–${last}`
    : "No products match these filters.";
  section.querySelector("#catalog-prev").disabled = state.offset === 0;
  section.querySelector("#catalog-next").disabled = last >= page.total;
  announce(summary.textContent);
}

/** Focus a product's card, else the first card, else the filters (a card drawn again, or gone, loses it). */
function returnFocus(productId) {
  if (document.getElementById("product-dialog").open) return; // the dialog keeps it; its close brings it back
  const back = section.querySelector(`#catalog-grid [data-product-id="${productId}"] .card-button`)
    || section.querySelector("#catalog-grid .card-button") || section.querySelector("#catalog-filters select");
  back?.focus();
}

function fillSelect(select, options) {
  const first = select.options[0];
  put(select, first, ...options.map(([value, label]) => h("option", { value }, label)));
}

/** Each flag option with the number of products it would show now. */
function showFlagCounts(qa) {
  for (const option of section.querySelector("#catalog-filters").elements.flag.options) {
    const count = qa.flags[option.value]?.count;
    if (count !== undefined) option.textContent = `${option.textContent.replace(/ \(\d+\)$/, "")} (${count})`;
  }
}

async function loadFilterOptions() {
  const form = section.querySelector("#catalog-filters");
  try {
    const [categories, merchants, qa, colours] = await Promise.all([
      api("/v1/catalog/categories"), api("/v1/catalog/merchants"), api("/v1/catalog/qa", { params: { limit: 0 } }),
      api("/v1/catalog/colours"),
    ]);
    state.categories = categories;
    fillSelect(form.elements.category, categories.map((c) => [c, c]));
    fillSelect(form.elements.merchant, merchants.map((m) => [m.id, `${m.name} (${m.products})`]));
    fillSelect(form.elements.colour, colours.map((c) => [c.name, c.name]));
    showFlagCounts(qa);
  } catch (error) {
    showError(error, "The catalogue filters could not be loaded");
  }
}

function facts(product) {
  const image = product.images[0] || {};
  const rows = [
    ["Merchant", product.merchant], ["SKU", product.sku], ["Brand", product.brand || "—"],
    ["Price", money(product.price)], ["Stock", product.stock], ["Status", product.status],
    ["Declared category", product.category || "—"],
    ["Predicted category", product.predicted_category
      ? `${product.predicted_category}${image.confidence != null ? ` (${pct(image.confidence)})` : ""}` : "—"],
    ["Model version", image.model_version || "—"],
    ["Colours", image.colours?.length ? swatches(image.colours) : "—"],
    ...Object.entries(image.attributes || {}).map(([name, values]) =>
      [name[0].toUpperCase() + name.slice(1), values.map((v) => `${v.value} (${pct(v.score)})`).join(", ")]),
  ];
  return h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** A photo's dominant colours: a swatch, the name and the share of each. */
function swatches(colours) {
  return h("span", { class: "swatches" }, colours.map((c) => {
    const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.background = c.hex; // through the CSSOM: the page's CSP allows no style attributes
    return h("span", { class: "swatch-item" }, swatch, `${c.name} ${pct(c.share)}`);
  }));
}

function imagesOf(product) {
  return h("ul", { class: "gallery", "aria-label": "Photos" }, product.images.map((img, i) =>
    h("li", {},
      apiImage(img.url, `${product.title}, photo ${i + 1}`, { width: img.width, height: img.height }),
      h("span", { class: "small muted" }, `${img.width}×${img.height}`),
      img.quality_flags.length ? h("span", { class: "badges" }, img.quality_flags.map((f) => badge(f.replace("_", " "), "warn"))) : null,
      img.faces_blurred ? badge(`${img.faces_blurred} face(s) blurred`) : null)));
}

function correction(product) {
  const select = h("select", { id: "correct-category", name: "category" },
    h("option", { value: "" }, "— choose —"),
    state.categories.map((c) => h("option", { value: c, selected: c === product.category }, c)));
  const suggest = product.predicted_category && product.predicted_category !== product.category
    ? h("button", { type: "button", class: "secondary", onclick: () => { select.value = product.predicted_category; } },
      `Use the prediction (${product.predicted_category})`)
    : null;
  return h("form", {
    class: "correct", onsubmit: async (event) => {
      event.preventDefault();
      if (!select.value) return;
      try {
        await api(`/v1/products/${product.id}`, { method: "PATCH", json: { category: select.value } });
      } catch (error) {
        showError(error, "The category was not changed");
        return;
      }
      announce(`Category of ${product.title} set to ${select.value}`);
      await openProduct(product.id);
      loadGrid();
      api("/v1/catalog/qa", { params: { limit: 0 } }).then(showFlagCounts, () => {}); // the mismatch count moved
    },
  }, h("label", { for: "correct-category" }, "Correct the category"), select, suggest, h("button", { type: "submit" }, "Save category"));
}

async function duplicatesOf(product) {
  if (!product.flags.includes("duplicate")) return null;
  try {
    const dups = await api(`/v1/products/${product.id}/duplicates`);
    return h("section", {}, h("h3", {}, "Near-duplicates at other products"),
      h("ul", { class: "plain" }, dups.map((d) => h("li", {},
        h("button", { type: "button", class: "link", onclick: () => openProduct(d.product.id) },
          `${d.product.title} — ${d.product.merchant}`)))));
  } catch (error) {
    return h("p", { class: "muted" }, `Duplicates could not be loaded: ${error.message}`);
  }
}

/** Show a product in the dialog (also used by the Classify view's results). */
export async function openProduct(id) {
  const dialog = document.getElementById("product-dialog");
  const body = document.getElementById("product-detail");
  let product;
  try {
    if (!state.categories.length) state.categories = await api("/v1/catalog/categories");
    product = await api(`/v1/products/${id}`);
  } catch (error) {
    showError(error, `Product ${id} could not be loaded`);
    return;
  }
  state.opened = id;
  const close = h("button", { type: "button", class: "secondary close", onclick: () => dialog.close() }, "Close");
  put(body, 
    h("div", { class: "dialog-head" }, h("h2", { id: "product-title" }, product.title), close),
    h("p", { class: "dialog-alert alert", role: "alert", hidden: true }),
    product.flags.length ? h("p", { class: "badges" }, flagBadges(product.flags)) : null,
    product.flags.includes("mismatch")
      ? h("p", { class: "warning" }, `Declared as ${product.category}, but the photo looks like ${product.predicted_category}.`)
      : null,
    h("div", { class: "detail-layout" }, imagesOf(product), facts(product)),
    await duplicatesOf(product),
    correction(product));
  if (!dialog.open) dialog.showModal();
  close.focus();
}

export function init(root) {
  section = root;
  const form = section.querySelector("#catalog-filters");
  form.addEventListener("change", () => {
    state.offset = 0;
    loadGrid();
  });
  form.addEventListener("input", (event) => {
    if (event.target.name !== "q") return;
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.offset = 0;
      loadGrid();
    }, 300);
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  section.querySelector("#catalog-prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE);
    loadGrid();
  });
  section.querySelector("#catalog-next").addEventListener("click", () => {
    state.offset += PAGE;
    loadGrid();
  });
  const dialog = document.getElementById("product-dialog");
  dialog.addEventListener("close", () => {
    clearError();
    // The grid may have been drawn again meanwhile (a saved category): back to the card that opened the dialog,
    // unless the browser put the focus somewhere that is still there (a closed dialog's button is not).
    const at = document.activeElement;
    const lost = !at || at === document.body || dialog.contains(at) || !at.isConnected;
    if (!section.hidden && lost) returnFocus(state.opened);
  });
}

export async function show() {
  if (!loaded) {
    loaded = true;
    await loadFilterOptions();
  }
  await loadGrid();
}
