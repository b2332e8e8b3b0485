// A small inline SVG chart of one consultation's values of a vital: the reference band shaded,
// one line per series, out-of-range points marked by shape as well as colour. No library.

import { svg } from "./dom.js";

const WIDTH = 260;
const HEIGHT = 64;
const PAD_X = 8;
const PAD_Y = 6;

/**
 * @param {object} spec
 * @param {{name: string, values: number[], low: number, high: number}[]} spec.series
 * @param {string} spec.label accessible description (the values are also written as text)
 */
export function drawChart({ series, label }) {
  const all = series.flatMap((s) => s.values);
  const lows = series.map((s) => s.low);
  const highs = series.map((s) => s.high);
  let min = Math.min(...all, ...lows);
  let max = Math.max(...all, ...highs);
  const margin = (max - min) * 0.08 || 1;
  min -= margin;
  max += margin;
  const count = Math.max(...series.map((s) => s.values.length));
  const x = (i) => (count <= 1 ? WIDTH / 2 : PAD_X + (i * (WIDTH - 2 * PAD_X)) / (count - 1));
  const y = (v) => PAD_Y + ((max - v) * (HEIGHT - 2 * PAD_Y)) / (max - min);

  const root = svg("svg", {
    class: "chart",
    attrs: {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": label,
      preserveAspectRatio: "none",
      focusable: "false",
    },
  });
  root.append(svg("title", { text: label }));
  for (const s of series) {
    root.append(
      svg("rect", {
        class: "chart-band",
        attrs: { x: 0, width: WIDTH, y: y(s.high), height: Math.max(1, y(s.low) - y(s.high)) },
      }),
    );
  }
  series.forEach((s, index) => {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    if (s.values.length > 1) {
      root.append(svg("polyline", { class: `chart-line chart-line-${index}`, attrs: { points } }));
    }
    s.values.forEach((v, i) => {
      const out = v < s.low || v > s.high;
      if (out) {
        // a diamond, not only a colour, for a value out of the reference range
        const cx = x(i);
        const cy = y(v);
        const r = 4.5;
        root.append(
          svg("polygon", {
            class: "chart-point chart-point-out",
            attrs: { points: `${cx},${cy - r} ${cx + r},${cy} ${cx},${cy + r} ${cx - r},${cy}` },
          }),
        );
      } else {
        root.append(
          svg("circle", {
            class: `chart-point chart-point-${index}`,
            attrs: { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 3 },
          }),
        );
      }
    });
  });
  return root;
}
