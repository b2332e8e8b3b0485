// The live vitals panel of a call: the latest value of each vital with its unit, adult reference
// range, an out-of-range flag (symbol and words, not colour alone), the time it was measured, a
// chart of this consultation's values, and the measurement requests to the cabin.

import { drawChart } from "./chart.js";
import { clear, h } from "./dom.js";
import { bindText, formatNumber, formatTime, t } from "./i18n.js";

/** Adult reference ranges and how each value is written. */
export const VITALS = Object.freeze({
  systolic_mmhg: { low: 90, high: 140, unit: "unit.mmhg", digits: 0 },
  diastolic_mmhg: { low: 60, high: 90, unit: "unit.mmhg", digits: 0 },
  pulse_bpm: { low: 50, high: 100, unit: "unit.per_min", digits: 0 },
  temperature_c: { low: 36.1, high: 37.8, unit: "unit.celsius", digits: 1 },
  spo2_percent: { low: 95, high: 100, unit: "unit.percent", digits: 0 },
});

/** The cards of the panel: which fields each shows, charted together. */
const CARDS = [
  { id: "blood_pressure", label: "vitals.blood_pressure", fields: ["systolic_mmhg", "diastolic_mmhg"] },
  { id: "pulse", label: "vitals.pulse_bpm", fields: ["pulse_bpm"] },
  { id: "temperature", label: "vitals.temperature_c", fields: ["temperature_c"] },
  { id: "spo2", label: "vitals.spo2_percent", fields: ["spo2_percent"] },
];

export const MEASURE_KINDS = Object.freeze(["blood_pressure", "temperature", "spo2"]);

/** "low" | "high" | "ok" for `value` of `field`. */
export function rangeFlag(field, value) {
  const { low, high } = VITALS[field];
  if (value < low) return "low";
  if (value > high) return "high";
  return "ok";
}

export function formatVital(field, value) {
  return formatNumber(value, VITALS[field].digits);
}

/** "132/84 mmHg", "37,9 °C" ... for a list of vitals: one short line per vital (waiting room). */
export function vitalSummary(vital) {
  const parts = [];
  if (vital.systolic_mmhg != null && vital.diastolic_mmhg != null) {
    parts.push({
      text: `${formatVital("systolic_mmhg", vital.systolic_mmhg)}/${formatVital("diastolic_mmhg", vital.diastolic_mmhg)} ${t("unit.mmhg")}`,
      flag: worst([rangeFlag("systolic_mmhg", vital.systolic_mmhg), rangeFlag("diastolic_mmhg", vital.diastolic_mmhg)]),
    });
  }
  for (const field of ["temperature_c", "spo2_percent", "pulse_bpm"]) {
    if (vital[field] == null) continue;
    const prefix = field === "spo2_percent" ? "SpO2 " : field === "pulse_bpm" ? `${t("vitals.pulse_bpm")} ` : "";
    parts.push({
      text: `${prefix}${formatVital(field, vital[field])} ${t(VITALS[field].unit)}`,
      flag: rangeFlag(field, vital[field]),
    });
  }
  return parts;
}

function worst(flags) {
  return flags.find((f) => f !== "ok") ?? "ok";
}

/** The flag's words: "▲ élevé", "▼ bas", "✓ normal". */
export function flagElement(flag, { quiet = false } = {}) {
  if (flag === "ok" && quiet) return null;
  return h("span", { class: `flag flag-${flag}`, i18n: `vitals.${flag}` });
}

const vitalKey = (v) => `${v.kind}|${v.measured_at}|${v.device_id}`;

export class VitalsPanel {
  /** @param {{onMeasure: (kind: string) => boolean}} options onMeasure: true if the request left */
  constructor({ onMeasure }) {
    this.onMeasure = onMeasure;
    this.vitals = []; // this consultation's vitals, oldest first
    this.keys = new Set();
    this.pending = new Map(); // kind -> time the request was sent
    this.measureButtons = new Map();
    this.measureStatus = new Map();
    this.cardsRoot = h("div", { class: "vitals-cards" });
    this.notice = h("p", { class: "notice", attrs: { role: "status", "aria-live": "polite" } });
    this.root = h(
      "section",
      { class: "panel vitals-panel", id: "vitals-panel", attrs: { "aria-labelledby": "vitals-title" } },
      h("h2", { id: "vitals-title", i18n: "vitals.title" }),
      this.measureBar(),
      this.notice,
      this.cardsRoot,
    );
    this.render();
  }

  measureBar() {
    const bar = h("div", { class: "measure-bar", attrs: { role: "group", "aria-labelledby": "measure-title" } },
      h("span", { id: "measure-title", class: "measure-title", i18n: "measure.title" }));
    for (const kind of MEASURE_KINDS) {
      const status = h("span", {
        class: "measure-status",
        id: `measure-status-${kind}`,
        data: { measureStatus: kind, testid: `measure-status-${kind}` },
        attrs: { "aria-live": "polite" },
      });
      const button = h("button", {
        class: "button secondary",
        i18n: `measure.${kind}`,
        data: { measure: kind },
        attrs: { type: "button", "aria-describedby": status.id },
        on: { click: () => this.request(kind) },
      });
      this.measureButtons.set(kind, button);
      this.measureStatus.set(kind, status);
      bar.append(h("span", { class: "measure-item" }, button, status));
    }
    return bar;
  }

  request(kind) {
    this.notice.textContent = "";
    if (!this.onMeasure(kind)) {
      bindText(this.notice, "measure.nolink");
      return;
    }
    this.pending.set(kind, Date.now());
    this.renderPending();
  }

  renderPending() {
    for (const kind of MEASURE_KINDS) {
      const status = this.measureStatus.get(kind);
      const button = this.measureButtons.get(kind);
      if (this.pending.has(kind)) {
        bindText(status, "measure.requested");
        button.setAttribute("aria-busy", "true");
        status.dataset.state = "requested";
      } else {
        status.textContent = "";
        delete status.dataset.i18n;
        button.removeAttribute("aria-busy");
        status.dataset.state = "idle";
      }
    }
  }

  /** Add a vital (from the waiting room, the hub or the data channel); false if already shown. */
  addVital(vital) {
    const key = vitalKey(vital);
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    this.vitals.push(vital);
    this.vitals.sort((a, b) => Date.parse(a.measured_at) - Date.parse(b.measured_at));
    if (this.pending.has(vital.kind)) {
      this.pending.delete(vital.kind);
      this.renderPending();
    }
    this.render();
    return true;
  }

  /** Every value of `field` in this consultation, oldest first, with its vital. */
  series(field) {
    return this.vitals.filter((v) => v[field] != null).map((v) => ({ value: v[field], vital: v }));
  }

  render() {
    clear(this.cardsRoot);
    for (const card of CARDS) this.cardsRoot.append(this.renderCard(card));
    this.renderPending();
  }

  renderCard(card) {
    const allSeries = card.fields.map((field) => this.series(field));
    const latest = allSeries[0].at(-1);
    const element = h("article", { class: "vital-card", data: { card: card.id } },
      h("h3", { i18n: card.label }));
    const values = h("div", { class: "vital-values" });
    for (const [index, field] of card.fields.entries()) {
      const last = allSeries[index].at(-1);
      const range = VITALS[field];
      const label = card.fields.length > 1 ? h("span", { class: "vital-sub", i18n: `vitals.${field}` }) : null;
      if (!last) {
        values.append(h("div", { class: "vital-line" }, label,
          h("span", { class: "vital-value empty", data: { vital: field, flag: "none" }, i18n: "vitals.none" })));
        continue;
      }
      const flag = rangeFlag(field, last.value);
      values.append(
        h("div", { class: `vital-line flag-line-${flag}` },
          label,
          h("span", {
            class: "vital-value",
            data: { vital: field, flag, count: String(allSeries[index].length) },
            text: formatVital(field, last.value),
          }),
          h("span", { class: "vital-unit", text: t(range.unit) }),
          flagElement(flag),
          h("span", { class: "vital-range", text: t("vitals.range", {
            low: formatVital(field, range.low), high: formatVital(field, range.high), unit: t(range.unit),
          }) }),
        ),
      );
    }
    element.append(values);
    if (latest) {
      const when = new Date(latest.vital.measured_at);
      element.append(h("p", { class: "vital-meta" },
        h("time", { attrs: { datetime: latest.vital.measured_at }, text: t("vitals.at", { time: formatTime(when) }) }),
        " · ",
        h("span", { text: t("vitals.count", { n: allSeries[0].length }) })));
      const label = t("vitals.chart", { label: t(card.label) }) + " — " + allSeries
        .map((s, i) => s.map((p) => formatVital(card.fields[i], p.value)).join(", "))
        .join(" / ");
      element.append(drawChart({
        label,
        series: card.fields.map((field, i) => ({
          name: field, values: allSeries[i].map((p) => p.value), low: VITALS[field].low, high: VITALS[field].high,
        })),
      }));
    }
    return element;
  }

  dispose() {
    this.vitals = [];
    this.keys.clear();
    this.pending.clear();
    this.root.remove();
  }
}
