// Trends view: per category per day counts (views, carts, purchases, uploads) as a line chart and a table.

import { api, h, put, showError } from "./api.js";
import { lineChart } from "./charts.js";

const MEASURES = { views: "Views", carts: "Added to cart", purchases: "Purchases", uploads: "Uploads" };
const MAX_LINES = 10;
let section;
let body;
let latest = 0; // answers to older requests (the form changed meanwhile) are dropped

function days(start, end) {
  const out = [];
  for (let d = new Date(`${start}T00:00:00Z`); d <= new Date(`${end}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) {
    out.push(d.toISOString().slice(0, 10));
  }
  return out;
}

function render(answer, measure) {
  const dates = days(answer.start, answer.end);
  const index = new Map(dates.map((d, i) => [d, i]));
  const byCategory = new Map();
  for (const row of answer.rows) {
    if (!byCategory.has(row.category)) byCategory.set(row.category, new Array(dates.length).fill(0));
    const i = index.get(row.day);
    if (i !== undefined) byCategory.get(row.category)[i] += row[measure];
  }
  const totals = [...byCategory].map(([name, values]) => ({ name, values, total: values.reduce((a, b) => a + b, 0) }))
    .filter((s) => s.total > 0)
    .sort((a, b) => b.total - a.total || a.name.localeCompare(b.name));
  if (!totals.length) {
    put(body, h("p", { class: "muted" }, `No ${MEASURES[measure].toLowerCase()} between ${answer.start} and ${answer.end}.`));
    return;
  }
  const shown = totals.slice(0, MAX_LINES);
  const labels = dates.map((d) => d.slice(5));
  const title = `${MEASURES[measure]} per day and category, ${answer.start} to ${answer.end}`;
  const table = h("table", {},
    h("caption", {}, `${MEASURES[measure]} per category`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Category"), h("th", { scope: "col" }, "Total"),
      h("th", { scope: "col" }, "Busiest day"))),
    h("tbody", {}, totals.map((s) => {
      const peak = s.values.indexOf(Math.max(...s.values));
      return h("tr", {}, h("th", { scope: "row" }, s.name), h("td", {}, s.total), h("td", {}, `${dates[peak]} (${s.values[peak]})`));
    })));
  put(body, 
    h("section", { class: "panel" }, h("h2", {}, title), lineChart(shown, labels, { title })),
    h("section", { class: "panel" }, h("div", { class: "table-wrap" }, table)));
}

async function load() {
  const form = section.querySelector("#trends-form");
  const measure = form.elements.measure.value;
  const request = ++latest;
  let answer;
  try {
    answer = await api("/v1/trends/categories", { params: { days: form.elements.days.value } });
  } catch (error) {
    if (request === latest) showError(error, "Trends could not be loaded");
    return;
  }
  if (request === latest) render(answer, measure);
}

export function init(root) {
  section = root;
  body = section.querySelector("#trends-body");
  const form = section.querySelector("#trends-form");
  form.addEventListener("change", load);
  form.addEventListener("submit", (event) => event.preventDefault());
}

export function show() {
  return load();
}
