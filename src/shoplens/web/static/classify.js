// Classify view: a photo in (drop or pick), its categories, the review badge, duplicates and similar products.

import { announce, api, badge, clearError, h, pct, put, showError } from "./api.js";
import { barList } from "./charts.js";
import { openProduct, productCard } from "./catalog.js";

let result;
let previewUrl = null;

function photoForm(file) {
  const form = new FormData();
  form.append("file", file, file.name || "photo");
  return form;
}

// Why the API flagged a result for review (its `review_reasons`): the probability rule, the "not a product" score.
const REVIEW_CAUSES = {
  low_confidence: "the model is less sure of this category than its review threshold",
  unlike_products: "the photo looks unlike the products the model knows",
};

function reviewNote(result) {
  const causes = (result.review_reasons || []).map((r) => REVIEW_CAUSES[r]).filter(Boolean);
  if (!causes.length) return "A person should check this one.";
  const why = causes.join(", and ");
  return `${why[0].toUpperCase()}${why.slice(1)}: a person should check this one.`;
}

function categories(answer) {
  const [first] = answer.results;
  const top = first.top[0];
  return h("section", { class: "panel", "aria-labelledby": "classify-category" },
    h("h2", { id: "classify-category" }, "Category"),
    h("p", { class: "headline" },
      h("strong", { class: "category-name" }, top.label), " ", h("span", { class: "category-pct" }, pct(top.probability)),
      " ", first.status === "not_recognised"
        ? badge("not a product", "danger")
        : first.needs_review ? badge("needs review", "warn") : badge("confident", "ok")),
    first.status === "not_recognised"
      ? h("p", { class: "muted small" }, "This photo does not look like a product the model knows: its category is a guess.")
      : first.needs_review ? h("p", { class: "muted small review-note" }, reviewNote(first)) : null,
    barList(first.top.map((t) => ({ label: t.label, value: t.probability, text: pct(t.probability) })),
      { label: "Category probabilities" }),
    h("p", { class: "muted small" }, `Model ${answer.model.name} ${answer.model.version} · ${answer.timing_ms.total.toFixed(1)} ms`));
}

function duplicates(answer) {
  if (!answer.results.length) return null;
  return h("div", { class: "warning", role: "note", "aria-label": "Duplicate warning" },
    h("strong", {}, "Possible duplicate: "),
    "this photo is a near-duplicate of ",
    answer.results.map((hit, i) => [i ? ", " : "",
      h("button", { type: "button", class: "link", onclick: () => openProduct(hit.product.id) },
        `${hit.product.title} (${hit.product.merchant})`)]),
    ".");
}

function similar(answer) {
  const items = answer.results;
  return h("section", { class: "panel", "aria-labelledby": "classify-similar" },
    h("h2", { id: "classify-similar" }, "Similar products"),
    items.length
      ? h("ul", { class: "grid", id: "similar-grid" }, items.map((hit) =>
        productCard(hit.product, hit.image.thumbnail_url, h("span", { class: "small" }, `similarity ${pct(hit.similarity, 0)}`))))
      : h("p", { class: "muted" }, answer.reason ? `No search: ${answer.reason}.` : "No similar products in the catalogue yet."));
}

async function classify(file) {
  clearError();
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  put(result, h("p", { class: "muted" }, `Classifying ${file.name || "the photo"}…`));
  let answer;
  try {
    answer = await api("/v1/classify", { method: "POST", form: photoForm(file), params: { top_k: 5 } });
  } catch (error) {
    put(result);
    showError(error, `${file.name || "This file"} could not be classified`);
    return;
  }
  previewUrl = URL.createObjectURL(file);
  const layout = h("div", { class: "classify-layout" },
    h("figure", { class: "preview" }, h("img", { src: previewUrl, alt: `Your photo ${file.name || ""}`.trim(),
      // HEIC and AVIF read on the server whatever the browser shows: say so instead of a broken image
      onerror: (event) => event.target.replaceWith(h("p", { class: "muted small no-preview" },
        "This browser cannot show this file's format; ShopLens read it as below.")) }),
      h("figcaption", { class: "muted small" }, file.name || "")),
    categories(answer));
  const related = h("div", {}, h("p", { class: "muted" }, "Looking for similar products…"));
  put(result, layout, related);
  announce(`Category ${answer.results[0].top[0].label}`);
  const [sim, dup] = await Promise.allSettled([
    api("/v1/search/similar", { method: "POST", form: photoForm(file), params: { k: 8 } }),
    api("/v1/search/duplicates", { method: "POST", form: photoForm(file) }),
  ]);
  put(related, 
    dup.status === "fulfilled" ? duplicates(dup.value) : null,
    sim.status === "fulfilled" ? similar(sim.value) : null);
  const failed = [sim, dup].find((r) => r.status === "rejected");
  if (failed) showError(failed.reason, "The catalogue could not be searched");
}

export function init(section) {
  result = section.querySelector("#classify-result");
  const input = section.querySelector("#classify-file");
  const drop = section.querySelector("#drop");
  input.addEventListener("change", () => {
    if (input.files.length) classify(input.files[0]);
    input.value = ""; // choosing the same file again classifies it again
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const [file] = event.dataTransfer.files;
    if (file) classify(file);
  });
}

export function show() {}
