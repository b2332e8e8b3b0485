// The consultation notes (for the doctors who see the patient next) and the advice for the
// patient (sent to the cabin, printed on their summary): in one `ConsultationNotes`, sent about
// a second after the doctor stops typing in either field and when a field loses focus;
// "enregistré" once the hub acknowledges the last one. Only the fields the doctor edited are
// sent (a field left out is kept by the hub), so a field the page does not know yet (after a
// reload) is never overwritten; the hub sends what it has when the call is taken up again
// (`restore`), and a field the doctor has not touched shows it.

const FIELDS = ["text", "advice"];

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
    this.known = { text: null, advice: null }; // what the hub has (or is acknowledging); null: unknown
    this.edited = { text: false, advice: false }; // typed in by the doctor on this page
    this.pendingId = null;
    const field = (id, className) => h("textarea", {
      id,
      class: className,
      attrs: { rows: 6, maxlength: MAX_LENGTH, spellcheck: "true", "aria-describedby": "notes-status" },
      data: { testid: id },
      on: {
        input: () => this.schedule(id === "notes-text" ? "text" : "advice"),
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

  /** The fields the doctor edited whose text the hub does not have (yet). */
  unsent(values = this.current()) {
    return FIELDS.filter((name) => this.edited[name] && values[name] !== this.known[name]);
  }

  schedule(name) {
    this.edited[name] = true;
    clearTimeout(this.timer);
    this.setStatus("unsaved");
    this.timer = setTimeout(() => this.flush(), DEBOUNCE_MS);
  }

  /** Send the edited fields now if they changed since the last sending. */
  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    const values = this.current();
    const changed = this.unsent(values);
    if (changed.length === 0) return;
    const msg = consultationNotes(
      this.consultationId,
      changed.includes("text") ? values.text : null,
      changed.includes("advice") ? values.advice : null,
    );
    if (!this.send(msg)) {
      this.setStatus("unsaved");
      return; // sent again on the next keystroke, blur, or when the socket is back (resend())
    }
    for (const name of changed) this.known[name] = values[name];
    this.pendingId = msg.msg_id;
    this.setStatus("saving");
  }

  /** The hub's socket is back: send what it may not have. */
  resend() {
    if (this.pendingId !== null || this.unsent().length > 0) {
      for (const name of FIELDS) if (this.edited[name]) this.known[name] = null;
      this.pendingId = null;
      this.flush();
    }
  }

  /** The hub's stored notes and advice (the call taken up again after a reload): shown in
   * the fields the doctor has not edited here; an edited one is sent if it differs. */
  restore(stored) {
    const areas = { text: this.textarea, advice: this.adviceArea };
    for (const name of FIELDS) {
      const value = stored[name];
      if (value === undefined || value === null) continue;
      if (!this.edited[name]) areas[name].value = value;
      if (this.pendingId === null) this.known[name] = value;
    }
    if (this.unsent().length > 0) this.schedule(this.unsent()[0]);
    else if (this.pendingId === null && FIELDS.some((name) => this.edited[name])) this.setStatus("saved");
  }

  /** An `Ack`: true if it was for the notes. */
  handleAck(ackOf) {
    if (ackOf !== this.pendingId) return false;
    this.pendingId = null;
    if (this.unsent().length === 0) this.setStatus("saved");
    return true;
  }

  /** An `ErrorMessage` in reply to the notes: true if it was. */
  handleError(inReplyTo) {
    if (inReplyTo !== this.pendingId) return false;
    this.pendingId = null;
    this.known = { text: null, advice: null };
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
    this.known = { text: null, advice: null };
    this.edited = { text: false, advice: false };
    this.root.remove();
  }
}
