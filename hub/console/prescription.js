// The prescription editor: lines (drug, dose, frequency, duration, instructions, renewals 0-12),
// checked before `PrescriptionDraft` leaves; then the hub's signed `PrescriptionMessage`, shown
// as sent with its number, forwarded to the cabin on the data channel until the cabin acks it
// there, or the hub says the cabin has it (`PrescriptionDelivered`): "reçue par la cabine".

import { h, clear } from "./dom.js";
import { bindText, formatTime } from "./i18n.js";
import { forwardedPrescription, prescriptionDraft } from "./messages.js";
import { prescriptionLines } from "./history.js";

const MAX_LINES = 20;
const TEXT_FIELDS = [
  { name: "drug", required: true, max: 200, wide: true },
  { name: "dose", required: true, max: 200 },
  { name: "frequency", required: true, max: 200 },
  { name: "duration", required: true, max: 200 },
  { name: "instructions", required: false, max: 500, wide: true },
];

let nextLineKey = 1;
const emptyLine = () => ({
  key: nextLineKey++, drug: "", dose: "", frequency: "", duration: "", instructions: "", renewals: "0",
});

export class PrescriptionEditor {
  /**
   * @param {object} options
   * @param {string} options.consultationId
   * @param {(msg: object) => boolean} options.sendToHub
   * @param {(msg: object) => boolean} options.sendToCabin on the data channel
   */
  constructor({ consultationId, sendToHub, sendToCabin }) {
    this.consultationId = consultationId;
    this.sendToHub = sendToHub;
    this.sendToCabin = sendToCabin;
    this.lines = [emptyLine()];
    this.errors = new Map(); // "<key>:<field>" -> i18n key
    this.pendingDraftId = null;
    this.sent = []; // {prescription, delivered, forwardIds: Set}
    this.deliveredIds = new Set(); // delivered according to the hub (ids only)
    this.linesRoot = h("div", { class: "presc-lines", id: "presc-lines" });
    this.message = h("p", { id: "presc-error", class: "error-text", attrs: { role: "alert" } });
    this.addButton = h("button", {
      id: "presc-add", class: "button secondary", i18n: "presc.add", attrs: { type: "button" },
      on: { click: () => this.addLine() },
    });
    this.sendButton = h("button", {
      id: "presc-send", class: "button primary", i18n: "presc.send", attrs: { type: "submit" },
      data: { testid: "presc-send" },
    });
    this.sentRoot = h("div", { id: "presc-sent-list", class: "presc-sent-list", attrs: { "aria-live": "polite" } });
    this.form = h("form", { class: "presc-form", attrs: { novalidate: true }, on: {
      submit: (event) => { event.preventDefault(); this.submit(); },
    } }, this.linesRoot, h("div", { class: "presc-actions" }, this.addButton, this.sendButton), this.message);
    this.root = h(
      "section",
      { class: "panel presc-panel", id: "presc-panel", attrs: { "aria-labelledby": "presc-title" } },
      h("h2", { id: "presc-title", i18n: "presc.title" }),
      this.sentRoot,
      this.form,
    );
    this.renderLines();
  }

  addLine() {
    if (this.lines.length >= MAX_LINES) {
      bindText(this.message, "presc.max");
      return;
    }
    this.lines.push(emptyLine());
    this.renderLines();
    this.linesRoot.querySelector(`#presc-${this.lines.length - 1}-drug`).focus();
  }

  removeLine(key) {
    if (this.lines.length <= 1) return;
    const index = this.lines.findIndex((line) => line.key === key);
    this.lines.splice(index, 1);
    for (const name of [...this.errors.keys()]) if (name.startsWith(`${key}:`)) this.errors.delete(name);
    this.renderLines();
    const focusIndex = Math.min(index, this.lines.length - 1);
    this.linesRoot.querySelector(`#presc-${focusIndex}-drug`).focus();
  }

  renderLines() {
    clear(this.linesRoot);
    this.lines.forEach((line, index) => this.linesRoot.append(this.renderLine(line, index)));
  }

  renderLine(line, index) {
    const fieldset = h("fieldset", { class: "presc-line", data: { testid: "presc-line", line: index } },
      h("legend", { i18n: "presc.line", args: { n: index + 1 } }));
    const grid = h("div", { class: "presc-grid" });
    const text = (spec) => this.renderField(line, index, spec.name, spec, h("input", {
      attrs: { type: "text", maxlength: spec.max, autocomplete: "off", required: spec.required },
    }));
    for (const spec of TEXT_FIELDS.filter((s) => s.name !== "instructions")) grid.append(text(spec));
    grid.append(this.renderField(line, index, "renewals", { required: true }, h("input", {
      attrs: { type: "number", min: 0, max: 12, step: 1, inputmode: "numeric", required: true },
    })));
    grid.append(text(TEXT_FIELDS.find((s) => s.name === "instructions")));
    fieldset.append(grid);
    if (this.lines.length > 1) {
      const remove = h("button", {
        class: "button link danger", attrs: { type: "button" }, data: { testid: "presc-remove" },
        i18n: "presc.remove", args: { n: index + 1 },
        on: { click: () => this.removeLine(line.key) },
      });
      fieldset.append(remove);
    }
    return fieldset;
  }

  renderField(line, index, name, spec, input) {
    const id = `presc-${index}-${name}`;
    const errorKey = this.errors.get(`${line.key}:${name}`);
    input.id = id;
    input.name = name;
    input.dataset.field = name;
    input.value = line[name];
    input.addEventListener("input", () => {
      line[name] = input.value;
      if (this.errors.delete(`${line.key}:${name}`)) {
        input.removeAttribute("aria-invalid");
        error.textContent = "";
        delete error.dataset.i18n;
        if (this.errors.size === 0 && this.message.dataset.i18n === "presc.invalid") this.clearMessage();
      }
    });
    const error = h("span", { id: `${id}-error`, class: "field-error" });
    if (errorKey) {
      bindText(error, errorKey);
      input.setAttribute("aria-invalid", "true");
    }
    input.setAttribute("aria-describedby", error.id);
    const label = h("label", { attrs: { for: id } }, h("span", { i18n: `presc.${name}` }));
    if (spec.required) label.append(h("span", { class: "required", attrs: { "aria-hidden": "true" }, text: " *" }));
    return h("div", { class: `field field-${name}${spec.wide ? " wide" : ""}` }, label, input, error);
  }

  /** The lines as the wire wants them, or null after marking what is missing. */
  validate() {
    this.errors.clear();
    const lines = [];
    for (const line of this.lines) {
      for (const spec of TEXT_FIELDS) {
        const value = line[spec.name].trim();
        if (spec.required && value === "") this.errors.set(`${line.key}:${spec.name}`, "presc.required");
      }
      const renewals = Number(line.renewals);
      if (line.renewals.trim() === "" || !Number.isInteger(renewals) || renewals < 0 || renewals > 12) {
        this.errors.set(`${line.key}:renewals`, "presc.renewals.invalid");
      }
      lines.push({
        drug: line.drug.trim(),
        dose: line.dose.trim(),
        frequency: line.frequency.trim(),
        duration: line.duration.trim(),
        instructions: line.instructions.trim(),
        renewals,
      });
    }
    return this.errors.size ? null : lines;
  }

  submit() {
    if (this.pendingDraftId !== null) return;
    const lines = this.validate();
    this.renderLines();
    if (lines === null) {
      bindText(this.message, "presc.invalid");
      this.linesRoot.querySelector("[aria-invalid=true]")?.focus();
      return;
    }
    const msg = prescriptionDraft(this.consultationId, lines);
    if (!this.sendToHub(msg)) {
      bindText(this.message, "ws.lost");
      return;
    }
    this.pendingDraftId = msg.msg_id;
    this.clearMessage();
    bindText(this.sendButton, "presc.sending");
    this.sendButton.disabled = true;
    this.sendButton.setAttribute("aria-busy", "true");
  }

  /** The hub's `Ack` of the draft: true if it was ours. */
  handleAck(ackOf) {
    if (ackOf !== this.pendingDraftId) return false;
    return true; // the PrescriptionMessage that follows (or came first) resets the editor
  }

  /** An `ErrorMessage` in reply to the draft: true if it was ours. */
  handleError(inReplyTo, text) {
    if (inReplyTo === null || inReplyTo !== this.pendingDraftId) return false;
    this.endSending();
    this.message.removeAttribute("data-i18n");
    this.message.textContent = text;
    return true;
  }

  clearMessage() {
    this.message.textContent = "";
    delete this.message.dataset.i18n;
  }

  endSending() {
    this.pendingDraftId = null;
    bindText(this.sendButton, "presc.send");
    this.sendButton.disabled = false;
    this.sendButton.removeAttribute("aria-busy");
  }

  /** The hub's signed `PrescriptionMessage` for this consultation. */
  handlePrescription(prescription) {
    if (prescription.consultation_id !== this.consultationId) return;
    if (this.sent.some((s) => s.prescription.prescription_id === prescription.prescription_id)) return;
    const entry = { prescription, delivered: false, forwardIds: new Set(), element: null };
    this.sent.push(entry);
    if (this.pendingDraftId !== null) {
      this.endSending();
      this.lines = [emptyLine()];
      this.errors.clear();
      this.renderLines();
    }
    entry.element = this.renderSent(entry);
    this.sentRoot.append(entry.element);
    if (this.deliveredIds.has(prescription.prescription_id)) this.markDelivered(entry);
    else this.forward(entry);
  }

  forward(entry) {
    const msg = forwardedPrescription(entry.prescription);
    if (this.sendToCabin(msg)) entry.forwardIds.add(msg.msg_id);
  }

  /** The data channel is (again) open: forward what the cabin has not acknowledged. */
  forwardUndelivered() {
    for (const entry of this.sent) if (!entry.delivered) this.forward(entry);
  }

  /** The cabin's `Ack` on the data channel: true if it was for a prescription. */
  handleCabinAck(ackOf) {
    const entry = this.sent.find((s) => s.forwardIds.has(ackOf));
    if (!entry) return false;
    this.markDelivered(entry);
    return true;
  }

  /** The hub's `PrescriptionDelivered`: the cabin has acknowledged it to the hub. */
  handleDelivered(prescriptionId) {
    this.deliveredIds.add(prescriptionId);
    const entry = this.sent.find((s) => s.prescription.prescription_id === prescriptionId);
    if (entry) this.markDelivered(entry);
  }

  markDelivered(entry) {
    if (entry.delivered) return;
    entry.delivered = true;
    const status = entry.element.querySelector(".delivery");
    status.dataset.delivery = "delivered";
    bindText(status, "presc.delivered");
    entry.element.dataset.delivery = "delivered";
  }

  renderSent(entry) {
    const { prescription } = entry;
    const heading = h("p", { class: "presc-sent-head" },
      h("strong", { i18n: "presc.sent", args: {
        id: prescription.prescription_id, time: formatTime(new Date(prescription.issued_at)),
      } }),
      " — ",
      h("span", { class: "delivery", data: { delivery: "pending", testid: "presc-delivery" }, i18n: "presc.pending" }));
    return h("div", {
      class: "presc-sent",
      data: { testid: "presc-sent", prescriptionId: prescription.prescription_id, delivery: "pending" },
    }, heading, prescriptionLines(prescription.lines));
  }

  dispose() {
    this.lines = [];
    this.sent = [];
    this.deliveredIds.clear();
    this.errors.clear();
    this.root.remove();
  }
}
