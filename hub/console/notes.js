// The consultation notes (for the doctors who see the patient next) and the advice for the
// patient (sent to the cabin, printed on their summary): both in one `ConsultationNotes`, sent
// about a second after the doctor stops typing in either field and when a field loses focus;
// "enregistré" once the hub acknowledges the last one.

import { h } from "./dom.js";
import { bindText, formatTime } from "./i18n.js";
import { consultationNotes } from "./messages.js";

const DEBOUNCE_MS = 1000;
const MAX_LENGTH = 10000;

export class NotesEditor {
  /** @param {{consultationId: string, send: (msg: object) => boolean}} options */
  constructor({ consultationId, send }) {
    this.consultationId = consultationId;
    this.send = send;
    this.timer = null;
    this.sent = { text: "", advice: "" }; // what the hub has (or is acknowledging); null: unknown
    this.pendingId = null;
    const field = (id, className) => h("textarea", {
      id,
      class: className,
      attrs: { rows: 6, maxlength: MAX_LENGTH, spellcheck: "true", "aria-describedby": "notes-status" },
      data: { testid: id },
      on: {
        input: () => this.schedule(),
        blur: () => this.flush(),
      },
    });
    this.textarea = field("notes-text", "notes-text");
    this.adviceArea = field("advice-text", "advice-text");
    this.adviceArea.rows = 4;
    this.status = h("p", {
      id: "notes-status",
      class: "save-status",
      data: { state: "idle", testid: "notes-status" },
      attrs: { role: "status", "aria-live": "polite" },
    });
    this.root = h(
      "section",
      { class: "panel notes-panel", id: "notes-panel", attrs: { "aria-labelledby": "notes-title" } },
      h("h2", { id: "notes-title", i18n: "notes.title" }),
      h("label", { attrs: { for: "notes-text" }, i18n: "notes.label" }),
      this.textarea,
      h("label", { class: "advice-label", attrs: { for: "advice-text" }, i18n: "advice.label" }),
      this.adviceArea,
      this.status,
    );
  }

  current() {
    return { text: this.textarea.value, advice: this.adviceArea.value };
  }

  isSent(values) {
    return this.sent !== null && values.text === this.sent.text && values.advice === this.sent.advice;
  }

  schedule() {
    clearTimeout(this.timer);
    this.setStatus("unsaved");
    this.timer = setTimeout(() => this.flush(), DEBOUNCE_MS);
  }

  /** Send the notes and advice now if either changed since the last sending. */
  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    const values = this.current();
    if (this.isSent(values)) return;
    const msg = consultationNotes(this.consultationId, values.text, values.advice);
    if (!this.send(msg)) {
      this.setStatus("unsaved");
      return; // sent again on the next keystroke, blur, or when the socket is back (resend())
    }
    this.sent = values;
    this.pendingId = msg.msg_id;
    this.setStatus("saving");
  }

  /** The hub's socket is back: send what it may not have. */
  resend() {
    if (this.pendingId !== null || !this.isSent(this.current())) {
      this.sent = null;
      this.pendingId = null;
      this.flush();
    }
  }

  /** An `Ack`: true if it was for the notes. */
  handleAck(ackOf) {
    if (ackOf !== this.pendingId) return false;
    this.pendingId = null;
    if (this.isSent(this.current())) this.setStatus("saved");
    return true;
  }

  /** An `ErrorMessage` in reply to the notes: true if it was. */
  handleError(inReplyTo) {
    if (inReplyTo !== this.pendingId) return false;
    this.pendingId = null;
    this.sent = null;
    this.setStatus("unsaved");
    return true;
  }

  setStatus(state) {
    this.status.dataset.state = state;
    if (state === "idle") this.status.textContent = "";
    else if (state === "saved") bindText(this.status, "notes.saved", { time: formatTime(new Date()) });
    else bindText(this.status, state === "saving" ? "notes.saving" : "notes.unsaved");
  }

  dispose() {
    clearTimeout(this.timer);
    this.textarea.value = "";
    this.adviceArea.value = "";
    this.sent = { text: "", advice: "" };
    this.root.remove();
  }
}
