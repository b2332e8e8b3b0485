// The screen of one call: who the patient is, the video, the controls, the live vitals, the link
// quality, the earlier consultations, the notes and the prescription. Built when the hub's
// `CallAccepted` (with `patient`) arrives; everything it holds is dropped when the call ends.

import { CallSession } from "./call.js";
import { h } from "./dom.js";
import { HistoryPanel } from "./history.js";
import { bindAttr, bindText, formatDate, formatNumber, t } from "./i18n.js";
import { LinkQualityMonitor } from "./link.js";
import { ack, callEnd, measureRequest } from "./messages.js";
import { NotesEditor } from "./notes.js";
import { PrescriptionEditor } from "./prescription.js";
import { VitalsPanel } from "./vitals.js";

/** Whole years between `birthDate` ("YYYY-MM-DD") and today. */
export function ageFrom(birthDate, today = new Date()) {
  const [year, month, day] = birthDate.split("-").map(Number);
  let age = today.getFullYear() - year;
  if (today.getMonth() + 1 < month || (today.getMonth() + 1 === month && today.getDate() < day)) age -= 1;
  return age;
}

export class Consultation {
  /**
   * @param {object} o
   * @param {object} o.accepted the hub's CallAccepted (with `patient`)
   * @param {object|null} o.entry the waiting-room entry of this consultation, if known
   * @param {(msg: object) => boolean} o.sendToHub
   * @param {(reason: string, undelivered: object|null) => void} o.onEnded after everything of
   *   the patient is dropped
   */
  constructor({ accepted, entry, sendToHub, onEnded, earlyMedia = null }) {
    this.id = accepted.consultation_id;
    this.sendToHub = sendToHub;
    this.onEnded = onEnded;
    this.ended = false;
    this.readingIds = new Set();
    this.micOn = true;
    this.camOn = true;

    this.vitals = new VitalsPanel({ onMeasure: (kind) => this.session.sendOnChannel(measureRequest(this.id, kind)) });
    this.history = new HistoryPanel(this.id);
    this.notes = new NotesEditor({ consultationId: this.id, send: sendToHub });
    this.prescription = new PrescriptionEditor({
      consultationId: this.id,
      sendToHub,
      sendToCabin: (msg) => this.session.sendOnChannel(msg),
    });
    this.root = this.build(accepted, entry);
    for (const vital of entry?.vitals ?? []) this.vitals.addVital(vital);

    this.session = new CallSession({
      consultationId: this.id,
      iceServers: accepted.ice_servers,
      icePolicy: accepted.ice_transport_policy,
      earlyMedia,
      sendSignal: sendToHub,
      onCallState: (state) => this.showCallState(state),
      onLinkState: (state) => this.showLinkState(state),
      onRemoteStream: (stream) => this.showRemote(stream),
      onLocalMedia: (stream, error) => this.showLocal(stream, error),
      onChannelMessage: (msg) => this.handleChannel(msg),
      onChannelOpen: () => this.prescription.forwardUndelivered(),
    });
    this.monitor = new LinkQualityMonitor(() => this.session.pc, (q) => this.showQuality(q));
    this.history.load();
  }

  build(accepted, entry) {
    const patient = accepted.patient;
    const sexKey = ["female", "male"].includes(patient.sex) ? patient.sex : "other";
    const birth = formatDate(new Date(`${patient.birth_date}T00:00:00Z`), { utc: true });
    const language = entry?.language;
    this.callState = h("span", { id: "call-state", class: "state-pill", data: { testid: "call-state" }, attrs: { role: "status" } });
    this.linkState = h("span", { id: "link-state", class: "state-pill", data: { testid: "link-state" }, attrs: { role: "status" } });
    this.quality = h("span", { id: "link-quality", class: "quality", data: { quality: "unknown", testid: "link-quality" }, i18n: "quality.unknown" });
    this.qualityDetails = h("span", { id: "link-quality-details", class: "quality-details muted" });
    const header = h("header", { id: "patient-header", class: "patient-header", attrs: { "aria-labelledby": "patient-name" } },
      h("div", { class: "patient-identity" },
        h("h2", { id: "patient-name", data: { testid: "patient-name" }, attrs: { tabindex: "-1" } },
          h("span", { class: "family-name", text: patient.family_name.toLocaleUpperCase() }),
          " ",
          h("span", { text: patient.given_names })),
        h("p", { class: "patient-facts" },
          h("strong", { id: "patient-age", text: t("age.years", { n: ageFrom(patient.birth_date) }) }),
          " · ",
          h("span", { id: "patient-birth", text: t(`call.born.${sexKey}`, { date: birth }) }),
          " · ",
          h("span", { id: "patient-sex", text: t(`sex.${patient.sex}`) }),
          language ? " · " : null,
          language ? h("span", { id: "patient-language", text: t(`language.${language}`) }) : null,
          entry ? " · " : null,
          entry ? h("span", { class: "muted", text: `${t("waiting.cabin")} ${entry.cabin_id}` }) : null),
        entry?.reason ? h("p", { id: "patient-reason", class: "patient-reason" },
          h("span", { class: "muted", text: `${t("call.reason")} ` }), h("span", { text: entry.reason })) : null),
      h("div", { class: "call-status" },
        h("p", {}, h("span", { class: "muted", i18n: "call.state.label" }), " ", this.callState),
        h("p", {}, h("span", { class: "muted", i18n: "link.label" }), " ", this.linkState),
        h("p", {}, h("span", { class: "muted", i18n: "quality.label" }), " ", this.quality, " ", this.qualityDetails)));

    this.remoteVideo = h("video", { id: "remote-video", attrs: { autoplay: true, playsinline: true }, ariaLabel: ["video.remote"] });
    this.localVideo = h("video", { id: "local-video", attrs: { autoplay: true, playsinline: true, muted: true }, ariaLabel: ["video.local"] });
    this.localVideo.muted = true;
    this.videoPlaceholder = h("p", { id: "video-placeholder", class: "video-placeholder", i18n: "video.waiting" });
    this.overlay = h("div", { id: "link-overlay", class: "link-overlay", attrs: { hidden: true, role: "status" } },
      h("p", { class: "overlay-title", i18n: "link.overlay" }),
      h("p", { i18n: "link.overlay.detail" }));
    this.unmuteButton = h("button", { id: "unmute-remote", class: "button secondary unmute", i18n: "video.unmute",
      attrs: { type: "button", hidden: true }, on: { click: () => this.unmuteRemote() } });
    this.mediaWarning = h("p", { id: "media-warning", class: "warning", attrs: { hidden: true, role: "alert" }, i18n: "video.nocamera" });
    this.micButton = h("button", { id: "mic-toggle", class: "button secondary", data: { testid: "mic-toggle" },
      attrs: { type: "button", "aria-pressed": "false" }, i18n: "controls.mic.mute", on: { click: () => this.toggleMic() } });
    this.camButton = h("button", { id: "cam-toggle", class: "button secondary", data: { testid: "cam-toggle" },
      attrs: { type: "button", "aria-pressed": "false" }, i18n: "controls.cam.off", on: { click: () => this.toggleCam() } });
    const hangup = h("button", { id: "hangup", class: "button danger", data: { testid: "hangup" },
      attrs: { type: "button" }, i18n: "controls.hangup", on: { click: () => this.hangUp() } });

    const video = h("section", { class: "video-column", attrs: { "aria-label": t("video.remote") } },
      h("div", { class: "video-stage" }, this.remoteVideo, this.videoPlaceholder, this.localVideo, this.overlay, this.unmuteButton),
      h("div", { class: "call-controls" }, this.micButton, this.camButton, hangup),
      this.mediaWarning);
    bindAttr(video, "aria-label", "video.remote");

    return h("div", { id: "call-view", class: "call-view", data: { consultationId: this.id } },
      header,
      h("div", { class: "call-grid" }, video, this.vitals.root),
      h("div", { class: "work-grid" },
        h("div", { class: "work-column" }, this.notes.root, this.prescription.root),
        this.history.root));
  }

  // --- from the hub ------------------------------------------------------------------------

  /** A HubToConsole message about this consultation. */
  handleHub(msg) {
    if (this.ended) return;
    switch (msg.type) {
      case "sdp_offer":
        this.session.handleOffer(msg.sdp);
        break;
      case "ice_candidate":
        this.session.handleCandidate(msg);
        break;
      case "call_end":
        this.end(msg.reason);
        break;
      case "reading":
        this.addReading(msg);
        break;
      case "prescription":
        this.prescription.handlePrescription(msg);
        break;
      case "prescription_delivered":
        this.prescription.handleDelivered(msg.prescription_id);
        break;
      case "consultation_notes":
        this.notes.restore(msg);
        break;
      default:
        break;
    }
  }

  /** An Ack from the hub: true if it belonged to this screen. */
  handleAck(ackOf) {
    if (this.ended) return false;
    return this.notes.handleAck(ackOf) || this.prescription.handleAck(ackOf);
  }

  /** An ErrorMessage from the hub: true if it answered a message of this screen. */
  handleError(msg) {
    if (this.ended) return false;
    const inReplyTo = msg.in_reply_to ?? null;
    return this.notes.handleError(inReplyTo) || this.prescription.handleError(inReplyTo, msg.text || t(`error.code.${msg.code}`));
  }

  /** The waiting room changed: the entry of this consultation may carry new readings. */
  handleWaitingRoom(entries) {
    if (this.ended) return;
    const entry = entries.find((e) => e.consultation_id === this.id);
    for (const vital of entry?.vitals ?? []) this.vitals.addVital(vital);
  }

  /** The hub's socket is back after a drop. */
  /**
   * The hub's `CallAccepted` for this call, sent again when the console's socket came back: the
   * next peer connection (the cabin reconnecting) uses its TURN credentials, valid from now; the
   * first ones are refused by coturn once their hour has passed.
   */
  renewIce(accepted) {
    if (accepted.consultation_id !== this.id) return;
    this.session.renewIce(accepted.ice_servers, accepted.ice_transport_policy);
  }

  handleReconnected() {
    if (this.ended) return;
    this.notes.resend();
  }

  addReading(msg) {
    if (msg.consultation_id !== this.id || this.readingIds.has(msg.msg_id)) return;
    this.readingIds.add(msg.msg_id);
    this.vitals.addVital(msg.reading);
  }

  // --- from the cabin, on the data channel -------------------------------------------------

  handleChannel(msg) {
    if (this.ended) return;
    switch (msg.type) {
      case "reading":
        this.session.sendOnChannel(ack(msg.msg_id)); // every copy: the cabin resends until acked
        this.addReading(msg);
        break;
      case "ack":
        this.prescription.handleCabinAck(msg.ack_of);
        break;
      case "call_end":
        if (msg.consultation_id === this.id) this.end(msg.reason);
        break;
      default:
        break;
    }
  }

  // --- shown state -------------------------------------------------------------------------

  showCallState(state) {
    if (!this.callState) return;
    this.callState.dataset.state = state;
    bindText(this.callState, `call.state.${state}`);
    this.updateOverlay();
  }

  showLinkState(state) {
    if (!this.linkState) return;
    this.linkState.dataset.state = state;
    bindText(this.linkState, `link.state.${state}`);
    this.updateOverlay();
  }

  updateOverlay() {
    if (!this.overlay) return;
    const link = this.linkState.dataset.state;
    const call = this.callState.dataset.state;
    this.overlay.hidden = !(link === "reconnecting" || call === "reconnecting");
    this.root?.classList.toggle("reconnecting", !this.overlay.hidden);
  }

  showRemote(stream) {
    if (this.ended) return;
    if (this.remoteVideo.srcObject !== stream) this.remoteVideo.srcObject = stream;
    this.videoPlaceholder.hidden = true;
    this.remoteVideo.play().catch((error) => {
      if (error.name !== "NotAllowedError") return;
      // no user gesture since the page loaded (a reload during the call): play muted, offer sound
      this.remoteVideo.muted = true;
      this.unmuteButton.hidden = false;
      this.remoteVideo.play().catch(() => {});
    });
  }

  unmuteRemote() {
    this.remoteVideo.muted = false;
    this.unmuteButton.hidden = true;
    this.remoteVideo.play().catch(() => {});
  }

  showLocal(stream, error) {
    if (this.ended) return;
    if (stream) {
      this.localVideo.srcObject = stream;
      this.localVideo.play().catch(() => {});
      this.mediaWarning.hidden = true;
    } else if (error) {
      this.mediaWarning.hidden = false;
      this.micButton.disabled = true;
      this.camButton.disabled = true;
    }
  }

  showQuality(q) {
    if (this.ended) return;
    this.quality.dataset.quality = q.quality;
    bindText(this.quality, `quality.${q.quality}`);
    const show = (value, digits = 0) => (value === null ? "—" : formatNumber(value, digits));
    const details = t("quality.details", {
      kbps: show(q.kbps), fps: show(q.fps), rtt: show(q.rttMs), loss: show(q.lossPercent, 1),
    });
    this.qualityDetails.textContent = details;
    this.quality.title = details;
    for (const [name, value] of Object.entries({ kbps: q.kbps, fps: q.fps, rttMs: q.rttMs, lossPercent: q.lossPercent })) {
      this.quality.dataset[name] = value === null ? "" : String(value);
    }
  }

  toggleMic() {
    this.micOn = !this.micOn;
    this.session.setMicEnabled(this.micOn);
    this.micButton.setAttribute("aria-pressed", String(!this.micOn));
    bindText(this.micButton, this.micOn ? "controls.mic.mute" : "controls.mic.unmute");
  }

  toggleCam() {
    this.camOn = !this.camOn;
    this.session.setCameraEnabled(this.camOn);
    this.camButton.setAttribute("aria-pressed", String(!this.camOn));
    bindText(this.camButton, this.camOn ? "controls.cam.off" : "controls.cam.on");
  }

  /** Re-render what is drawn from state in the current language. */
  relabel() {
    this.vitals.render();
    this.history.render();
  }

  // --- the end -----------------------------------------------------------------------------

  /** The doctor hangs up: CallEnd to the hub and on the data channel, then close. */
  hangUp(reason = "completed") {
    if (this.ended) return;
    this.session.sendOnChannel(callEnd(this.id, reason));
    const toHub = callEnd(this.id, reason);
    this.end(reason, this.sendToHub(toHub) ? null : toHub);
  }

  /**
   * Close the call and drop every trace of the patient from the page and from memory.
   * `undelivered`: the CallEnd the hub's socket could not take, for the app to send when it is back.
   */
  end(reason, undelivered = null) {
    if (this.ended) return;
    this.ended = true;
    this.monitor.stop();
    this.session.close({ flushMs: 500 });
    for (const video of [this.remoteVideo, this.localVideo]) {
      video.pause();
      video.srcObject = null;
    }
    this.vitals.dispose();
    this.history.dispose();
    this.notes.dispose();
    this.prescription.dispose();
    this.root.remove();
    this.readingIds.clear();
    for (const name of ["root", "remoteVideo", "localVideo", "overlay", "callState", "linkState",
      "quality", "qualityDetails", "micButton", "camButton", "unmuteButton", "mediaWarning", "videoPlaceholder"]) {
      this[name] = null;
    }
    this.vitals = this.history = this.notes = this.prescription = null;
    this.onEnded(reason, undelivered);
  }
}
