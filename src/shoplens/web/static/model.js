// Model view: versions with activate / roll back, and a version's report: metrics, per-class F1, figures.

import { announce, api, apiImage, badge, clearError, h, pct, put, showError } from "./api.js";
import { barList, heatmap } from "./charts.js";

const FIGURES = [
  ["training_curves.png", "Training curves", "Loss and accuracy per epoch, training and validation"],
  ["reliability.png", "Reliability diagram", "Confidence against accuracy: calibration of the probabilities"],
  ["misclassified.png", "Most confident mistakes", "Test images the model got wrong with the highest confidence"],
];
let body;
let shown = null; // the version whose report is on screen

async function change(path, what) {
  clearError();
  try {
    let answer;
    try {
      answer = await api(path, { method: "POST" });
    } catch (error) {
      // Activation refuses a version evaluated near chance (or never evaluated); a person may still insist.
      if (error.status !== 422 || !/force/.test(error.message) || !window.confirm(`${error.message}\n\nActivate it anyway?`)) throw error;
      answer = await api(path, { method: "POST", params: { force: "true" } });
    }
    announce(`${what}: now serving ${answer.version}`);
    shown = answer.version;
  } catch (error) {
    showError(error, `${what} failed`);
  }
  await load();
}

const COLUMNS = ["Version", "Created", "Test accuracy", "State", "Actions"];

function versionsTable(list) {
  // data-label: on narrow screens each row is a stacked card and its cells name their column (app.css)
  const cell = (i, ...children) => h("td", { "data-label": COLUMNS[i] }, ...children);
  const rows = list.versions.map((v) => h("tr", {},
    h("th", { scope: "row" }, v.version),
    cell(1, new Date(v.created).toLocaleString()),
    cell(2, v.accuracy == null ? "—" : pct(v.accuracy, 2)),
    cell(3, v.active ? badge("active", "ok") : null, " ", v.serving ? badge("serving") : null,
      v.active || v.serving ? null : "—"),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => showReport(v.version), "aria-pressed": String(v.version === shown) },
        "Report"),
      v.active ? null : h("button", { type: "button", onclick: () => change(`/v1/models/${encodeURIComponent(v.version)}/activate`, `Activating ${v.version}`) },
        "Activate"))));
  return h("section", { class: "panel", "aria-labelledby": "versions-heading" },
    h("div", { class: "panel-head" },
      h("h2", { id: "versions-heading" }, `Versions of ${list.name}`),
      h("button", { type: "button", class: "secondary", onclick: () => change("/v1/models/rollback", "Rolling back") },
        "Roll back to the previous version")),
    h("div", { class: "table-wrap" }, h("table", { class: "stacking" },
      h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows))));
}

/** A calibration number with its 95 % interval, or "n too small" when the test set gave none. */
function estimate(m, key) {
  const value = m[key];
  const interval = m[`${key}_interval`];
  if (value == null) return "—";
  if (!Array.isArray(interval)) return `n too small (${m.num_samples ?? "?"} images)`;
  return `${Math.abs(value) < 5e-5 ? "0.0000" : value.toFixed(4)} (95 % CI ${interval[0].toFixed(4)}–${interval[1].toFixed(4)})`;
}

function metricCards(m) {
  const review = m.review || {};
  const cards = [
    ["Accuracy", m.accuracy != null ? pct(m.accuracy, 2) : "—"],
    ["Top-3 accuracy", m.top3_accuracy != null ? pct(m.top3_accuracy, 2) : "—"],
    ["Macro F1", m.macro_f1 != null ? m.macro_f1.toFixed(3) : "—"],
    ["Calibration error (ECE)", estimate(m, "ece")],
    ["Log loss (NLL)", estimate(m, "nll")],
    ["Sent to review", review.flagged_share != null ? pct(review.flagged_share) : "—"],
    ["Errors caught by review", review.errors_caught_share != null ? pct(review.errors_caught_share) : "—"],
    ["Accuracy of accepted", review.accepted_accuracy != null ? pct(review.accepted_accuracy, 2) : "—"],
    ["Test images", m.num_samples ?? "—"],
  ];
  return h("dl", { class: "metrics" }, cards.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
}

function figure(version, [name, title, alt]) {
  const img = apiImage(`/v1/models/${encodeURIComponent(version)}/report/${name}`, `${title} of ${version}: ${alt}`);
  const wide = name === "training_curves.png" || name === "misclassified.png";
  const fig = h("figure", { class: wide ? "report-figure wide" : "report-figure" }, img, h("figcaption", {}, title));
  img.addEventListener("error", () => put(fig, h("p", { class: "muted small" }, `${title}: not in this bundle's report.`)));
  return fig;
}

async function showReport(version) {
  shown = version;
  for (const button of body.querySelectorAll("[aria-pressed]")) {
    button.setAttribute("aria-pressed", String(button.closest("tr").querySelector("th").textContent === version));
  }
  const holder = body.querySelector("#report");
  put(holder, h("h2", { id: "report-heading" }, `Report of ${version}`), h("p", { class: "muted" }, "Loading…"));
  let metrics;
  try {
    metrics = await api(`/v1/models/${encodeURIComponent(version)}/report/metrics.json`);
  } catch (error) {
    put(holder, h("h2", { id: "report-heading" }, `Report of ${version}`),
      h("p", { class: "muted" }, `No evaluation report: ${error.message}`));
    return;
  }
  // metrics.json lists its categories in class-index order (`labels`): the matrix's rows and columns follow it.
  // Older files lack it; their per_class keys are sorted by name, so their matrix cannot be labelled.
  const labels = Array.isArray(metrics.labels) ? metrics.labels : null;
  const perClass = (labels || Object.keys(metrics.per_class || {}))
    .filter((name) => metrics.per_class && metrics.per_class[name])
    .map((name) => [name, metrics.per_class[name]]);
  const matrix = Array.isArray(metrics.confusion_matrix) ? metrics.confusion_matrix : null;
  put(holder, 
    h("h2", { id: "report-heading" }, `Report of ${version}`),
    metricCards(metrics),
    h("div", { class: "report-grid" },
      perClass.length
        ? h("section", {}, h("h3", {}, "F1 per category"),
          barList(perClass.map(([name, c]) => ({ label: name, value: c.f1, text: c.f1.toFixed(3) })), { label: "F1 per category", kind: "accent" }))
        : null,
      matrix && labels && matrix.length === labels.length
        ? h("section", {}, h("h3", {}, "Confusion matrix"), heatmap(matrix, labels))
        : matrix ? h("section", {}, h("h3", {}, "Confusion matrix"),
          h("p", { class: "muted" }, "This report does not record its label order: evaluate the version again to see it."))
          : null),
    h("div", { class: "figures" }, FIGURES.map((f) => figure(version, f))));
}

async function load() {
  let list;
  try {
    list = await api("/v1/models");
  } catch (error) {
    showError(error, "The model versions could not be loaded");
    return;
  }
  const serving = list.serving || list.active;
  if (!shown || !list.versions.some((v) => v.version === shown)) shown = serving;
  put(body, versionsTable(list), h("section", { class: "panel", id: "report", "aria-labelledby": "report-heading" }));
  if (shown) await showReport(shown);
}

export function init(section) {
  body = section.querySelector("#model-body");
}

export function show() {
  return load();
}
