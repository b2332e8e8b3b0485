// The patient's earlier consultations (`GET /api/consultations/<id>/history` -> PatientHistory),
// newest first, each collapsible.

import { ApiError, getHistory } from "./api.js";
import { clear, h } from "./dom.js";
import { bindText, formatDate, formatDateTime, t } from "./i18n.js";
import { MessageError } from "./messages.js";
import { vitalSummary, flagElement } from "./vitals.js";

export class HistoryPanel {
  constructor(consultationId) {
    this.consultationId = consultationId;
    this.entries = null;
    this.status = null; // null | "loading" | {error: status}
    this.openIds = new Set();
    this.body = h("div", { class: "history-body", id: "history-list", attrs: { "aria-live": "polite" } });
    this.root = h(
      "section",
      { class: "panel history-panel", id: "history-panel", attrs: { "aria-labelledby": "history-title" } },
      h("h2", { id: "history-title", i18n: "history.title" }),
      this.body,
    );
    this.disposed = false;
  }

  async load() {
    this.status = "loading";
    this.render();
    try {
      const history = await getHistory(this.consultationId);
      if (!history || history.type !== "patient_history" || !Array.isArray(history.entries)) {
        throw new MessageError("not a patient_history");
      }
      if (this.disposed) return;
      this.entries = [...history.entries].sort(
        (a, b) => Date.parse(b.started_at) - Date.parse(a.started_at),
      );
      this.status = null;
    } catch (error) {
      if (this.disposed) return;
      this.status = { error: error instanceof ApiError ? error.status : "—" };
    }
    this.render();
  }

  render() {
    clear(this.body);
    if (this.status === "loading") {
      this.body.append(h("p", { class: "muted", i18n: "history.loading" }));
      return;
    }
    if (this.status && this.status.error !== undefined) {
      this.body.append(h("p", { class: "error-text", attrs: { role: "alert" }, i18n: "history.error", args: { status: this.status.error } }));
      return;
    }
    if (!this.entries || this.entries.length === 0) {
      this.body.append(h("p", { class: "muted", data: { testid: "history-empty" }, i18n: "history.empty" }));
      return;
    }
    for (const entry of this.entries) this.body.append(this.renderEntry(entry));
  }

  renderEntry(entry) {
    // A consultation the hub did not hold is only what a cabin says: marked, and no doctor.
    const unverified = entry.seen_by_hub === false;
    const doctor = entry.doctor
      ? `${entry.doctor.display_name} (${entry.doctor.specialty})`
      : t(unverified ? "history.doctor.none" : "history.doctor.unknown");
    const details = h("details", {
      class: unverified ? "history-entry history-unverified" : "history-entry",
      data: { testid: "history-entry", consultation: entry.consultation_id, verified: String(!unverified) },
    });
    details.open = this.openIds.has(entry.consultation_id);
    details.addEventListener("toggle", () => {
      if (details.open) this.openIds.add(entry.consultation_id);
      else this.openIds.delete(entry.consultation_id);
    });
    details.append(
      h("summary", {},
        h("time", { class: "history-date", attrs: { datetime: entry.started_at }, text: formatDateTime(new Date(entry.started_at)) }),
        h("span", { class: "history-doctor", text: doctor }),
        h("span", { class: "history-cabin muted", text: t("history.cabin", { cabin: entry.cabin_id }) }),
        unverified ? h("span", { class: "badge-unverified", data: { testid: "history-unverified" }, i18n: "history.unverified" }) : null,
        entry.reason ? h("span", { class: "history-reason", text: `— ${entry.reason}` }) : null,
      ),
    );
    const body = h("div", { class: "history-detail" });
    if (entry.reason) body.append(field("history.reason", h("span", { text: entry.reason })));
    if (entry.vitals && entry.vitals.length) {
      const list = h("ul", { class: "plain-list" });
      for (const vital of entry.vitals) {
        const item = h("li", {}, h("time", { class: "muted", attrs: { datetime: vital.measured_at }, text: `${formatDateTime(new Date(vital.measured_at))} ` }));
        for (const part of vitalSummary(vital)) {
          item.append(h("span", { class: `vital-chip flag-line-${part.flag}` }, part.text, flagElement(part.flag, { quiet: true })), " ");
        }
        list.append(item);
      }
      body.append(field("history.vitals", list));
    }
    body.append(field("history.notes", entry.notes
      ? h("p", { class: "history-notes", text: entry.notes })
      : h("span", { class: "muted", i18n: "history.notes.none" })));
    if (entry.advice) {
      body.append(field("history.advice", h("p", { class: "history-notes history-advice", data: { testid: "history-advice" }, text: entry.advice })));
    }
    if (entry.prescriptions && entry.prescriptions.length) {
      const list = h("div", {});
      for (const prescription of entry.prescriptions) {
        const verified = prescription.verified === true;
        list.append(h("p", { class: "history-prescription-head", data: { verified: String(verified) } },
          h("span", { text: t("history.prescription", {
            id: prescription.prescription_id, date: formatDate(new Date(prescription.issued_at)),
          }) }),
          " ",
          verified
            ? h("span", { class: "badge-verified", data: { testid: "prescription-verified" }, i18n: "history.prescription.verified" })
            : h("span", { class: "badge-unverified", data: { testid: "prescription-unverified" }, i18n: "history.prescription.unverified" }),
        ));
        list.append(prescriptionLines(prescription.lines));
      }
      body.append(field("history.prescriptions", list));
    }
    details.append(body);
    return details;
  }

  dispose() {
    this.disposed = true;
    this.entries = null;
    this.openIds.clear();
    this.root.remove();
  }
}

function field(labelKey, content) {
  const wrapper = h("div", { class: "history-field" }, h("h4", {}));
  bindText(wrapper.firstChild, labelKey);
  wrapper.append(content);
  return wrapper;
}

/** The lines of a prescription as a list: drug, dose, frequency, duration, instructions, renewals. */
export function prescriptionLines(lines) {
  const list = h("ol", { class: "prescription-lines" });
  for (const line of lines) {
    const parts = [line.dose, line.frequency, line.duration].filter(Boolean).join(" · ");
    list.append(h("li", {},
      h("strong", { text: line.drug }),
      h("span", { text: ` — ${parts}` }),
      line.instructions ? h("span", { class: "muted", text: ` — ${line.instructions}` }) : null,
      line.renewals ? h("span", { class: "muted", text: ` — ${t("presc.renewals.n", { n: line.renewals })}` }) : null,
    ));
  }
  return list;
}
