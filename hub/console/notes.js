// The consultation notes: sent as `ConsultationNotes` about a second after the doctor stops
// typing and when the field loses focus; "enregistré" once the hub acknowledges the last one.

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
    this.sentText = "";
    this.pendingId = null;
    this.textarea = h("textarea", {
      id: "notes-text",
      class: "notes-text",
      attrs: { rows: 6, maxlength: MAX_LENGTH, spellcheck: "true", "aria-describedby": "notes-status" },
      data: { testid: "notes-text" },
      on: {
        input: () => this.schedule(),
        blur: () => this.flush(),
      },
    });
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
      this.status,
    );
  }

  schedule() {
    clearTimeout(this.timer);
    this.setStatus("unsaved");
    this.timer = setTimeout(() => this.flush(), DEBOUNCE_MS);
  }

  /** Send the text now if it changed since the last sending. */
  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    const text = this.textarea.value;
    if (text === this.sentText) return;
    const msg = consultationNotes(this.consultationId, text);
    if (!this.send(msg)) {
      this.setStatus("unsaved");
      return; // sent again on the next keystroke, blur, or when the socket is back (resend())
    }
    this.sentText = text;
    this.pendingId = msg.msg_id;
    this.setStatus("saving");
  }

  /** The hub's socket is back: send what it may not have. */
  resend() {
    if (this.pendingId !== null || this.textarea.value !== this.sentText) {
      this.sentText = null;
      this.pendingId = null;
      this.flush();
    }
  }

  /** An `Ack`: true if it was for the notes. */
  handleAck(ackOf) {
    if (ackOf !== this.pendingId) return false;
    this.pendingId = null;
    if (this.textarea.value === this.sentText) this.setStatus("saved");
    return true;
  }

  /** An `ErrorMessage` in reply to the notes: true if it was. */
  handleError(inReplyTo) {
    if (inReplyTo !== this.pendingId) return false;
    this.pendingId = null;
    this.sentText = null;
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
    this.sentText = "";
    this.root.remove();
  }
}
