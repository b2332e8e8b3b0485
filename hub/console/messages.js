// The wire messages the console sends and receives (wire/messages.py, wire/schema.json).
// Outgoing messages are built here only, so their fields match the schema; incoming ones are
// checked for the fields the console reads before anything acts on them.

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/** A fresh message id: a random UUID (36 characters, matches the wire `Id` pattern). */
export function newMsgId() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // Not a secure context (plain http on a non-loopback host): same shape from getRandomValues.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Now as RFC 3339 in UTC ("2026-11-22T10:00:00.000Z"). */
export function nowIso() {
  return new Date().toISOString();
}

function message(type, fields) {
  return { type, msg_id: newMsgId(), ...fields };
}

// --- console -> hub --------------------------------------------------------------------------

export const takeConsultation = (consultationId) =>
  message("take_consultation", { consultation_id: consultationId });

export const sdpAnswer = (consultationId, sdp) =>
  message("sdp_answer", { consultation_id: consultationId, sdp });

export function iceCandidate(consultationId, candidate) {
  const fields = { consultation_id: consultationId, candidate: candidate ? candidate.candidate : "" };
  if (candidate && candidate.sdpMid !== null && candidate.sdpMid !== undefined) {
    fields.sdp_mid = candidate.sdpMid;
  }
  if (candidate && Number.isInteger(candidate.sdpMLineIndex)) {
    fields.sdp_mline_index = candidate.sdpMLineIndex;
  }
  return message("ice_candidate", fields);
}

export const callEnd = (consultationId, reason) =>
  message("call_end", { consultation_id: consultationId, reason });

export const prescriptionDraft = (consultationId, lines) =>
  message("prescription_draft", { consultation_id: consultationId, lines });

/** The doctor's notes (for the next doctors) and advice (for the patient, printed in the cabin);
 * a field left out (undefined or null) is kept as the hub has it. */
export const consultationNotes = (consultationId, text, advice) => {
  const fields = { consultation_id: consultationId };
  if (text !== undefined && text !== null) fields.text = text;
  if (advice !== undefined && advice !== null) fields.advice = advice;
  return message("consultation_notes", fields);
};

/** Someone takes charge of an alert (or calls it a false alarm); the hub names who. */
export const alertAck = (alertId, acknowledgedBy, falseAlarm = false) =>
  message("alert_ack", {
    alert_id: alertId,
    acknowledged_by: acknowledgedBy,
    acknowledged_at: nowIso(),
    false_alarm: falseAlarm,
  });

// --- data channel, console -> cabin ----------------------------------------------------------

export const heartbeat = () => message("heartbeat", { sent_at: nowIso() });

export const ack = (ackOf) => message("ack", { ack_of: ackOf });

export const measureRequest = (consultationId, kind) =>
  message("measure_request", { consultation_id: consultationId, kind });

/** The hub's signed prescription, forwarded as the same message under a new msg_id. */
export const forwardedPrescription = (prescription) => ({ ...prescription, msg_id: newMsgId() });

// --- incoming --------------------------------------------------------------------------------

export class MessageError extends Error {}

const isObject = (value) => typeof value === "object" && value !== null && !Array.isArray(value);
const isId = (value) => typeof value === "string" && value.length <= 64 && ID_PATTERN.test(value);
const isString = (value) => typeof value === "string";
const isArray = Array.isArray;
const isTime = (value) => typeof value === "string" && !Number.isNaN(Date.parse(value));

// The fields each incoming type must have, and how to check them.
const REQUIRED = {
  welcome: { server_time: isTime },
  ack: { ack_of: isId },
  error: { code: isString },
  waiting_room: { entries: isArray },
  call_accepted: { consultation_id: isId, doctor: isObject },
  patient_history: { consultation_id: isId, entries: isArray },
  reading: { consultation_id: isId, reading: isObject },
  prescription: {
    prescription_id: isId,
    consultation_id: isId,
    issued_at: isTime,
    lines: isArray,
    signature: isString,
  },
  prescription_delivered: { prescription_id: isId, consultation_id: isId, delivered_at: isTime },
  consultation_notes: { consultation_id: isId },
  sdp_offer: { consultation_id: isId, sdp: isString },
  sdp_answer: { consultation_id: isId, sdp: isString },
  ice_candidate: { consultation_id: isId, candidate: isString },
  call_end: { consultation_id: isId, reason: isString },
  heartbeat: { sent_at: isTime },
  measure_request: { consultation_id: isId, kind: isString },
  alert: { alert_id: isId, cabin_id: isId, kind: isString, severity: isString, raised_at: isTime },
  alert_escalated: {
    alert_id: isId,
    cabin_id: isId,
    kind: isString,
    raised_at: isTime,
    escalated_at: isTime,
    emergency_number: isString,
  },
  alert_ack: { alert_id: isId, acknowledged_by: isString, acknowledged_at: isTime },
  alert_summary: { cabins: isArray },
  print_status: {},
};

/** What the hub may send on the console's websocket (wire.HubToConsole). */
export const HUB_TO_CONSOLE = new Set([
  "welcome", "ack", "error", "waiting_room", "call_accepted", "patient_history", "reading",
  "alert", "alert_escalated", "alert_ack", "alert_summary", "prescription",
  "prescription_delivered", "sdp_offer", "sdp_answer", "ice_candidate", "call_end",
  "consultation_notes",
]);

/** What the hub may send on an agent's alert page's websocket (wire.HubToAgent). */
export const HUB_TO_AGENT = new Set([
  "welcome", "ack", "error", "alert", "alert_escalated", "alert_ack", "alert_summary",
  "print_status",
]);

/**
 * The open alerts of an `alert_summary`, one by one, as the pages keep them: for each, the
 * `alert` (shaped like an `alert` message: its cabin filled in) and, if it was escalated, the
 * `escalation` (shaped like an `alert_escalated`).
 */
export function summaryAlerts(summary) {
  const out = [];
  for (const cabin of summary.cabins ?? []) {
    for (const entry of cabin.latest ?? []) {
      const alert = { type: "alert", ...entry, cabin_id: cabin.cabin_id, cabin_name: cabin.cabin_name };
      delete alert.escalated_at;
      const escalation = entry.escalated_at
        ? {
          type: "alert_escalated", alert_id: entry.alert_id, cabin_id: cabin.cabin_id,
          cabin_name: cabin.cabin_name, kind: entry.kind, severity: entry.severity,
          raised_at: entry.raised_at, escalated_at: entry.escalated_at,
          emergency_number: summary.emergency_number, consultation_id: entry.consultation_id,
        }
        : null;
      out.push({ alert, escalation });
    }
  }
  return out;
}

/** What may travel on the call's data channel (wire.CallChannel). */
export const CALL_CHANNEL = new Set([
  "reading", "measure_request", "prescription", "ack", "heartbeat", "call_end",
]);

/** Parse and check one JSON message whose type must be in `allowed`; throws MessageError. */
export function parseMessage(text, allowed) {
  if (typeof text !== "string") throw new MessageError("not text");
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MessageError("not JSON");
  }
  if (!isObject(value) || typeof value.type !== "string") throw new MessageError("no type");
  if (!allowed.has(value.type)) throw new MessageError(`type ${value.type} not accepted here`);
  if (!isId(value.msg_id)) throw new MessageError(`${value.type}: bad msg_id`);
  for (const [field, check] of Object.entries(REQUIRED[value.type] ?? {})) {
    if (!check(value[field])) throw new MessageError(`${value.type}: bad ${field}`);
  }
  return value;
}
