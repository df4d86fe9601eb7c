// Charts drawn here, with no library: bar lists (HTML), line charts and heat maps (inline SVG).

import { h } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
export const PALETTE = ["#1f5f8b", "#e07a1f", "#2e8b57", "#b03a48", "#6a4c93", "#8a6d1d", "#1b998b", "#c2549d",
  "#4d6b7a", "#7a9a01"];

/** Build an SVG element: s("rect", {x: 1, ...}, children...). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * Horizontal bars as a list: [{label, value, text}] with value in 0..1 (the bar's length).
 * Every value is also written out, so the chart reads without seeing it.
 */
export function barList(items, { label = "", kind = "" } = {}) {
  return h("ul", { class: `bars ${kind}`.trim(), "aria-label": label || null },
    items.map((item) => {
      const fill = h("span", { class: "fill" });
      fill.style.width = `${Math.max(0, Math.min(1, item.value)) * 100}%`;
      return h("li", {},
        h("span", { class: "bar-label" }, item.label),
        h("span", { class: "bar", "aria-hidden": "true" }, fill),
        h("span", { class: "bar-value" }, item.text));
    }));
}

/** A tick step of 1, 2 or 5 × 10^k (whole numbers: the charts show counts) giving about four steps up to value. */
function tickStep(value) {
  const rough = Math.max(1, value / 4);
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].find((m) => m * magnitude >= rough) * magnitude;
}

/**
 * A line chart: series [{name, values: [number per x]}], xLabels [string per x]. Scales to its container's width.
 */
export function lineChart(series, xLabels, { title = "", width = 760, height = 300 } = {}) {
  const pad = { left: 44, right: 12, top: 12, bottom: 34 };
  const w = width - pad.left - pad.right;
  const ht = height - pad.top - pad.bottom;
  const step = tickStep(Math.max(0, ...series.flatMap((x) => x.values)));
  const top = step * Math.max(1, Math.ceil(Math.max(0, ...series.flatMap((x) => x.values)) / step));
  const x = (i) => pad.left + (xLabels.length > 1 ? (i * w) / (xLabels.length - 1) : w / 2);
  const y = (v) => pad.top + ht - (v / top) * ht;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title },
    s("title", {}, title));
  for (let v = 0; v <= top; v += step) {
    svg.append(s("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "gridline" }),
      s("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, v));
  }
  const every = Math.max(1, Math.ceil(xLabels.length / 8));
  xLabels.forEach((label, i) => {
    const last = xLabels.length - 1;
    if ((i % every === 0 && last - i >= every / 2) || i === last) {
      const anchor = i === last && last > 0 ? "end" : "middle";
      svg.append(s("text", { x: x(i), y: height - 12, "text-anchor": anchor, class: "tick" }, label));
    }
  });
  series.forEach((line, n) => {
    const color = PALETTE[n % PALETTE.length];
    const points = line.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const group = s("g", {}, s("title", {}, line.name),
      s("polyline", { points, fill: "none", stroke: color, "stroke-width": 2.5, "stroke-linejoin": "round" }));
    line.values.forEach((v, i) => {
      if (v > 0) group.append(s("circle", { cx: x(i), cy: y(v), r: 3, fill: color },
        s("title", {}, `${line.name}, ${xLabels[i]}: ${v}`)));
    });
    svg.append(group);
  });
  const legend = h("ul", { class: "legend" }, series.map((line, n) => {
    const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.background = PALETTE[n % PALETTE.length];
    return h("li", {}, swatch, line.name);
  }));
  return h("figure", { class: "chart-figure" }, svg, legend);
}

/** A confusion matrix as a heat map: rows are true classes, columns predictions, shade = share of the row. */
export function heatmap(matrix, labels, { title = "Confusion matrix" } = {}) {
  const n = labels.length;
  const cell = 40;
  const left = 110;
  const topPad = 100;
  // Column labels lean right at 50°: room beyond the last column for the longest (about 7 px a character).
  const lean = Math.max(0, ...labels.map((l) => String(l).length)) * 7 * Math.cos((50 * Math.PI) / 180);
  const size = left + n * cell + Math.max(8, Math.ceil(lean - cell / 2) + 6);
  const svg = s("svg", { viewBox: `0 0 ${size} ${topPad + n * cell + 26}`, class: "chart heatmap", role: "img",
    "aria-label": `${title}: rows are true categories, columns predicted categories` }, s("title", {}, title));
  labels.forEach((label, i) => {
    svg.append(s("text", { x: left - 6, y: topPad + i * cell + cell / 2 + 4, "text-anchor": "end", class: "tick" }, label));
    const cx = left + i * cell + cell / 2;
    svg.append(s("text", { x: cx, y: topPad - 6, transform: `rotate(-50 ${cx} ${topPad - 6})`, class: "tick" }, label));
  });
  matrix.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, j) => {
      const share = count / total;
      const fill = i === j ? `rgba(31, 95, 139, ${0.1 + 0.9 * share})` : `rgba(224, 122, 31, ${share > 0 ? 0.1 + 0.9 * Math.min(1, share * 4) : 0})`;
      svg.append(s("rect", { x: left + j * cell, y: topPad + i * cell, width: cell - 1, height: cell - 1, fill, class: "cell" },
        s("title", {}, `true ${labels[i]}, predicted ${labels[j]}: ${count} (${(100 * share).toFixed(1)} % of the row)`)));
      svg.append(s("text", { x: left + j * cell + cell / 2, y: topPad + i * cell + cell / 2 + 4, "text-anchor": "middle",
        class: share > 0.5 ? "cell-text light" : "cell-text" }, count));
    });
  });
  svg.append(s("text", { x: left + (n * cell) / 2, y: topPad + n * cell + 20, "text-anchor": "middle", class: "axis" },
    "predicted →"));
  return h("figure", { class: "chart-figure" }, svg, h("figcaption", {}, `${title}: rows are true categories, columns predictions.`));
}
