// The public booking page: 1. a town (typed, then chosen from a list of large buttons), and its
// cabin; 2. a day, then a time (the cabin's times); 3. who the patient is; 4. the slot and its
// six-digit code, printable. /rendez-vous/annuler cancels with the code, the birth date and a
// reason. No account, no third-party script. Each booking or cancellation carries a small proof
// of work (see hub/booking_http.py), computed while the patient types.

import {
  applyI18n, bindText, formatDay, getLanguage, initLanguage, onLanguageChange, setLanguage, t,
} from "./i18n.js";

const API = "/api/public/booking";
const DAYS_SHOWN = 14;
const $ = (id) => document.getElementById(id);

// --- the server ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(path, { method = "GET", body = undefined } = {}) {
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, { reason: "network" });
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// The message a person reads for a refusal (`fallback` for one the page has no words for).
function errorMessage(error, fallback = "error.server") {
  const reason = error.body?.reason;
  if (reason === "network") return ["error.network"];
  if (reason === "rate_limited") {
    const minutes = Math.max(1, Math.ceil((error.body.retry_after_s || 60) / 60));
    return minutes === 1 ? ["error.rate.one"] : ["error.rate", { minutes }];
  }
  if (reason === "slot_taken") return ["error.slot_taken"];
  if (reason === "cabin_unavailable") return ["error.cabin_unavailable"];
  if (reason === "slot_unavailable") return ["error.slot_unavailable"];
  if (reason === "refused") return ["error.refused"];
  if (reason === "not_found") return ["cancel.error.not_found"];
  if (reason === "not_booked") return ["cancel.error.not_booked"];
  return [fallback];
}

// --- the proof of work ------------------------------------------------------------------------

function leadingZeroBits(bytes, bits) {
  let left = bits;
  for (const byte of bytes) {
    if (left <= 0) return true;
    if (left >= 8) {
      if (byte !== 0) return false;
      left -= 8;
    } else {
      return (byte >> (8 - left)) === 0;
    }
  }
  return left <= 0;
}

// SHA-256 in plain JavaScript, for a page reached over plain HTTP on a local network, where
// the browser offers no crypto.subtle (it does on HTTPS and on loopback). Checked against
// crypto.subtle by tests/e2e/test_booking_page.py.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export function sha256(bytes) {
  const length = bytes.length;
  const padded = new Uint8Array(Math.ceil((length + 9) / 64) * 64);
  padded.set(bytes);
  padded[length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(length / 0x20000000));
  view.setUint32(padded.length - 4, (length * 8) >>> 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i += 1) w[i] = view.getUint32(block + i * 4);
    for (let i = 16; i < 64; i += 1) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i += 1) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i += 1) outView.setUint32(i * 4, h[i]);
  return out;
}

// A nonce (decimal text) such that sha256(challenge + nonce) starts with `bits` zero bits:
// with crypto.subtle (batches of digests in flight), else with `sha256` above.
export async function solveChallenge(challenge, bits, { subtle = globalThis.crypto?.subtle } = {}) {
  const encoder = new TextEncoder();
  const batch = 256;
  for (let start = 0; start < 2 ** 40; start += batch) {
    const tries = [];
    for (let nonce = start; nonce < start + batch; nonce += 1) {
      const text = encoder.encode(challenge + nonce);
      tries.push(subtle ? subtle.digest("SHA-256", text).then((d) => new Uint8Array(d)) : sha256(text));
    }
    const digests = await Promise.all(tries);
    for (let i = 0; i < batch; i += 1) {
      if (leadingZeroBits(digests[i], bits)) return String(start + i);
    }
  }
  throw new Error("no nonce found");
}

class Proof {
  // One challenge at a time, solved in the background as soon as it arrives.
  constructor() {
    this.pending = null;
  }

  use(challenge) {
    this.pending = solveChallenge(challenge.challenge, challenge.bits).then((nonce) => ({
      challenge: challenge.challenge, nonce,
    }));
    this.pending.catch(() => {}); // awaited (and reported) by `take`
  }

  async take() {
    if (!this.pending) this.use(await api("/challenge"));
    const solved = this.pending;
    this.pending = null;
    return solved;
  }
}

// --- shared form parts --------------------------------------------------------------------------

function setFieldError(inputId, errorId, key) {
  const box = $(errorId);
  const inputs = Array.isArray(inputId) ? inputId : [inputId];
  if (!key) {
    box.hidden = true;
    box.textContent = "";
    delete box.dataset.i18n;
    for (const id of inputs) $(id).removeAttribute("aria-invalid");
    return false;
  }
  bindText(box, key);
  box.hidden = false;
  for (const id of inputs) $(id).setAttribute("aria-invalid", "true");
  return true;
}

// A field's error goes as soon as the field is changed; the form's summary with the last one.
function clearErrorsOnInput(fields, summaryId) {
  for (const [errorId, inputIds] of Object.entries(fields)) {
    for (const id of inputIds) {
      $(id).addEventListener(id === "consent" || $(id).type === "radio" ? "change" : "input", () => {
        setFieldError(inputIds, errorId, null);
        const left = Object.keys(fields).some((other) => !$(other).hidden);
        if (!left) showError(summaryId, null);
      });
    }
  }
}

function showError(boxId, key, args) {
  const box = $(boxId);
  if (!key) {
    box.hidden = true;
    box.textContent = "";
    delete box.dataset.i18n;
    return;
  }
  box.hidden = false;
  bindText(box, key, args);
}

function announce(text) {
  const region = $("announce");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

// The birth date of three boxes as "YYYY-MM-DD", or null when it is not a possible one.
function birthDate(prefix) {
  const day = Number($(`${prefix}-day`).value.trim());
  const month = Number($(`${prefix}-month`).value.trim());
  const year = Number($(`${prefix}-year`).value.trim());
  if (!Number.isInteger(day) || !Number.isInteger(month) || !Number.isInteger(year)) return null;
  if (year < 1900 || month < 1 || month > 12 || day < 1) return null;
  const moment = new Date(Date.UTC(year, month - 1, day));
  if (moment.getUTCMonth() !== month - 1 || moment.getUTCDate() !== day) return null;
  if (moment.getTime() > Date.now()) return null;
  return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}

// A phone number as E.164, from the ways French numbers are written; null if it is not one.
// (The hub normalises it the same way: `hub.booking_http.normalise_phone`.)
export function normalisePhone(text) {
  let compact = text.replace(/[\s.\-/]/g, "").replace("(0)", "");
  if (compact.startsWith("00")) compact = `+${compact.slice(2)}`;
  if (/^0[1-9][0-9]{8}$/.test(compact)) compact = `+33${compact.slice(1)}`;
  if (compact.startsWith("+330")) compact = `+33${compact.slice(4)}`;
  if (compact.startsWith("+33") && !/^\+33[1-9][0-9]{8}$/.test(compact)) return null;
  return /^\+[1-9][0-9]{8,14}$/.test(compact) ? compact : null;
}

function validEmail(text) {
  return text.length <= 254 && /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(text);
}

function button(text, onClick, className = "button secondary") {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = text;
  element.addEventListener("click", onClick);
  return element;
}

function item(child) {
  const li = document.createElement("li");
  li.append(child);
  return li;
}

function fold(text) {
  return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/[\s'-]+/g, " ").trim();
}

// --- booking --------------------------------------------------------------------------------------

class BookingPage {
  constructor() {
    this.towns = [];
    this.unavailableTowns = new Set(); // every cabin there temporarily unavailable
    this.town = null;
    this.cabins = [];
    this.cabin = null;
    this.slots = null; // the last answer of /slots
    this.firstDay = null;
    this.day = null;
    this.slot = null;
    this.booked = null;
    this.proof = new Proof();
    this.step = "town";
  }

  async start() {
    $("book-view").hidden = false;
    $("town").addEventListener("input", () => this.renderTowns());
    $("town").addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const matches = this.matchingTowns();
      if (matches.length === 1) this.chooseTown(matches[0]);
      else $("town-list").querySelector("button")?.focus();
    });
    $("change-town").addEventListener("click", () => this.showStep("town"));
    $("change-slot").addEventListener("click", () => this.showStep("slot"));
    $("days-later").addEventListener("click", () => this.loadSlots(this.shiftDay(DAYS_SHOWN)));
    $("days-earlier").addEventListener("click", () => this.loadSlots(this.shiftDay(-DAYS_SHOWN)));
    clearErrorsOnInput({
      "family-name-error": ["family-name"],
      "given-names-error": ["given-names"],
      "birth-error": ["birth-day", "birth-month", "birth-year"],
      "phone-error": ["phone"],
      "email-error": ["email"],
      "consent-error": ["consent"],
    }, "form-error");
    $("book-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    $("print").addEventListener("click", () => window.print());
    onLanguageChange(() => this.relabel());
    bindText($("town-count"), "town.loading");
    try {
      const answer = await api("/towns");
      this.towns = answer.towns;
      this.unavailableTowns = new Set(answer.unavailable || []);
    } catch (error) {
      showError("town-error", ...errorMessage(error));
      return;
    }
    $("town").disabled = false;
    this.renderTowns();
    document.body.dataset.ready = "true";
    performance.mark("booking-ready"); // the town field works (bench/bench_booking_page.py)
  }

  relabel() {
    this.renderTowns(false);
    this.renderCabins();
    this.renderDays();
    this.renderTimes();
    this.renderChosen();
    this.renderDone();
  }

  showStep(step) {
    this.step = step;
    for (const name of ["town", "slot", "form", "done"]) $(`step-${name}`).hidden = name !== step;
    document.body.dataset.step = step;
    const title = { town: "town-title", slot: "slot-title", form: "form-title", done: "done-title" }[step];
    $(title).focus();
  }

  // Step 1 -------------------------------------------------------------------------------------

  matchingTowns() {
    const typed = fold($("town").value);
    if (!typed) return this.towns;
    const starts = this.towns.filter((town) => fold(town).startsWith(typed));
    const within = this.towns.filter((town) => !starts.includes(town) && fold(town).includes(typed));
    return [...starts, ...within];
  }

  renderTowns(speak = true) {
    if (!this.towns.length && !$("town").disabled) return;
    const matches = this.matchingTowns();
    const shown = matches.slice(0, 12);
    const list = $("town-list");
    list.replaceChildren(...shown.map((town) => {
      const down = this.unavailableTowns.has(town);
      const label = down ? `${town} — ${t("cabin.unavailable")}` : town;
      const choice = button(label, () => this.chooseTown(town));
      choice.dataset.town = town;
      if (down) choice.dataset.unavailable = "true";
      choice.setAttribute("aria-label", t("town.choose", { town: label }));
      return item(choice);
    }));
    const key = matches.length === 0 ? "town.count.none" : matches.length === 1 ? "town.count.one" : "town.count.many";
    if (speak || $("town-count").dataset.i18n) bindText($("town-count"), key, { count: matches.length });
  }

  async chooseTown(town) {
    this.town = town;
    showError("town-error", null);
    try {
      this.cabins = (await api(`/cabins?town=${encodeURIComponent(town)}`)).cabins;
    } catch (error) {
      showError("town-error", ...errorMessage(error));
      return;
    }
    if (this.cabins.length === 1) {
      this.chooseCabin(this.cabins[0]);
      return;
    }
    this.renderCabins();
    $("cabin-box").hidden = false;
    $("cabin-list").querySelector("button")?.focus();
  }

  renderCabins() {
    if (!this.town) return;
    const list = $("cabin-list");
    if (!this.cabins.length) {
      const none = document.createElement("p");
      none.textContent = t("cabin.none");
      list.replaceChildren(item(none));
      return;
    }
    list.replaceChildren(...this.cabins.map((cabin) => {
      const down = cabin.unavailable ? ` — ${t("cabin.unavailable")}` : "";
      const choice = button(`${cabin.name} (${cabin.town})${down}`, () => this.chooseCabin(cabin));
      choice.dataset.cabin = cabin.cabin_id;
      return item(choice);
    }));
  }

  chooseCabin(cabin) {
    this.cabin = cabin;
    this.day = null;
    this.slot = null;
    this.showStep("slot");
    this.loadSlots(null);
  }

  // Step 2 -------------------------------------------------------------------------------------

  shiftDay(days) {
    const [year, month, day] = this.firstDay.split("-").map(Number);
    const moment = new Date(Date.UTC(year, month - 1, day + days));
    return moment.toISOString().slice(0, 10);
  }

  async loadSlots(firstDay, { keepDay = false } = {}) {
    bindText($("slot-where"), "slot.where", { cabin: this.cabin.name, town: this.cabin.town });
    $("slot-loading").hidden = false;
    showError("slot-error", null);
    const from = firstDay ? `&from=${firstDay}` : "";
    try {
      this.slots = await api(`/slots?cabin=${encodeURIComponent(this.cabin.cabin_id)}&days=${DAYS_SHOWN}${from}`);
    } catch (error) {
      $("slot-loading").hidden = true;
      showError("slot-error", ...errorMessage(error));
      $("slot-error").scrollIntoView({ block: "center" });
      return;
    }
    $("slot-loading").hidden = true;
    this.firstDay = this.slots.first_day;
    this.proof.use(this.slots.challenge);
    $("slot-unavailable").hidden = !this.slots.cabin.unavailable;
    const days = this.slots.days;
    if (!keepDay || !days.some((d) => d.day === this.day)) {
      this.day = (days.find((d) => d.slots.length) || { day: null }).day;
    }
    this.renderDays();
    this.renderTimes();
    document.body.dataset.slots = "loaded";
  }

  renderDays() {
    if (!this.slots) return;
    const days = this.slots.days;
    const list = $("day-list");
    list.replaceChildren(...days.map((day) => {
      const choice = document.createElement("button");
      choice.type = "button";
      choice.className = day.slots.length ? "button secondary" : "button secondary empty";
      choice.dataset.day = day.day;
      choice.setAttribute("aria-pressed", String(day.day === this.day));
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = !day.slots.length ? t("slot.day.none")
        : t(day.slots.length === 1 ? "slot.day.count.one" : "slot.day.count.many", { count: day.slots.length });
      const name = document.createElement("span");
      name.textContent = formatDay(day.day, { short: true });
      choice.setAttribute("aria-label", `${formatDay(day.day)}, ${count.textContent}`);
      choice.append(name, count);
      choice.addEventListener("click", () => {
        this.day = day.day;
        this.renderDays();
        this.renderTimes();
        $("times-title").focus();
      });
      return item(choice);
    }));
    const none = days.every((day) => !day.slots.length);
    $("period-empty").hidden = !none;
    if (none) bindText($("period-empty"), "slot.none.period");
    $("days-earlier").hidden = this.firstDay <= this.slots.today;
    $("days-later").hidden = this.shiftDay(DAYS_SHOWN) > this.slots.last_bookable_day;
  }

  renderTimes() {
    if (!this.slots || !this.day) {
      $("times-box").hidden = true;
      return;
    }
    const day = this.slots.days.find((d) => d.day === this.day);
    $("times-box").hidden = false;
    bindText($("times-title"), "slot.times", { day: formatDay(this.day) });
    bindText($("times-zone"), "slot.timezone", { zone: this.cabin.timezone });
    $("day-empty").hidden = day.slots.length > 0;
    $("time-list").replaceChildren(...day.slots.map((slot) => {
      const choice = button(slot.time, () => this.chooseSlot(slot), "button secondary");
      choice.dataset.startsAt = slot.starts_at;
      choice.setAttribute("aria-label", `${formatDay(this.day)} ${slot.time}`);
      return item(choice);
    }));
  }

  chooseSlot(slot) {
    this.slot = slot;
    this.renderChosen();
    this.showStep("form");
  }

  // Step 3 -------------------------------------------------------------------------------------

  renderChosen() {
    if (!this.slot) return;
    bindText($("form-chosen"), "form.chosen", {
      day: formatDay(this.day), time: this.slot.time, cabin: this.cabin.name, town: this.cabin.town,
    });
  }

  validate() {
    const family = $("family-name").value.trim();
    const given = $("given-names").value.trim();
    const birth = birthDate("birth");
    const phoneText = $("phone").value.trim();
    const phone = phoneText ? normalisePhone(phoneText) : "";
    const email = $("email").value.trim();
    const wrong = [];
    if (setFieldError("family-name", "family-name-error", family ? null : "error.family")) wrong.push("family-name");
    if (setFieldError("given-names", "given-names-error", given ? null : "error.given")) wrong.push("given-names");
    if (setFieldError(["birth-day", "birth-month", "birth-year"], "birth-error", birth ? null : "error.birth")) wrong.push("birth-day");
    if (setFieldError("phone", "phone-error", phone === null ? "error.phone" : null)) wrong.push("phone");
    if (setFieldError("email", "email-error", email && !validEmail(email) ? "error.email" : null)) wrong.push("email");
    if (setFieldError("consent", "consent-error", $("consent").checked ? null : "error.consent")) wrong.push("consent");
    if (wrong.length) {
      showError("form-error", "form.errors");
      $(wrong[0]).focus();
      return null;
    }
    showError("form-error", null);
    return {
      cabin_id: this.cabin.cabin_id,
      starts_at: this.slot.starts_at,
      family_name: family,
      given_names: given,
      birth_date: birth,
      phone: phone || "",
      email,
      language: getLanguage(),
      consent: true,
      website: $("website").value,
    };
  }

  async submit() {
    const body = this.validate();
    if (!body) return;
    const submit = $("book-submit");
    submit.disabled = true;
    bindText(submit, "form.busy");
    try {
      this.booked = await this.send(body);
      this.renderDone();
      this.showStep("done");
      announce(t("done.title"));
    } catch (error) {
      const reason = error.body?.reason;
      if (reason === "slot_taken" || reason === "slot_unavailable") {
        this.slot = null;
        this.showStep("slot");
        await this.loadSlots(this.firstDay, { keepDay: true });
        showError("slot-error", ...errorMessage(error)); // after the reload, which clears it
      } else if (reason === "invalid" && error.body.field) {
        const field = { family_name: "family-name", given_names: "given-names", birth_date: "birth-day", phone: "phone", email: "email", consent: "consent" }[error.body.field];
        const errorBox = { "family-name": "family-name-error", "given-names": "given-names-error", "birth-day": "birth-error", phone: "phone-error", email: "email-error", consent: "consent-error" }[field];
        const key = { "family-name": "error.family", "given-names": "error.given", "birth-day": "error.birth", phone: "error.phone", email: "error.email", consent: "error.consent" }[field];
        if (field) {
          setFieldError(field === "birth-day" ? ["birth-day", "birth-month", "birth-year"] : field, errorBox, key);
          showError("form-error", "form.errors");
          $(field).focus();
        } else {
          showError("form-error", "error.server");
        }
      } else {
        showError("form-error", ...errorMessage(error));
      }
    } finally {
      submit.disabled = false;
      bindText(submit, "form.submit");
    }
  }

  // Sends with a solved proof; a stale one (expired, or the hub restarted) is renewed once.
  async send(body) {
    for (let attempt = 0; ; attempt += 1) {
      const proof = await this.proof.take();
      try {
        return await api("/book", { method: "POST", body: { ...body, ...proof } });
      } catch (error) {
        if (error.body?.reason !== "proof" || attempt > 0) throw error;
      }
    }
  }

  // Step 4 -------------------------------------------------------------------------------------

  renderDone() {
    const booked = this.booked;
    if (!booked) return;
    $("done-cabin").textContent = booked.cabin.name;
    $("done-town").textContent = booked.cabin.town;
    $("done-when").textContent = t("done.when.value", { day: formatDay(booked.day, { withYear: true }), time: booked.time });
    $("done-code").textContent = booked.code;
    const key = booked.by_email && booked.by_sms ? "done.by.both" : booked.by_email ? "done.by.email" : booked.by_sms ? "done.by.sms" : "done.by.none";
    bindText($("done-messages"), key);
    $("done-cancel").href = `/rendez-vous/annuler?code=${encodeURIComponent(booked.code)}`;
  }
}

// --- cancelling --------------------------------------------------------------------------------

class CancelPage {
  constructor() {
    this.proof = new Proof();
    this.done = null;
  }

  start() {
    $("cancel-view").hidden = false;
    document.title = t("app.cancel.title");
    const code = new URLSearchParams(location.search).get("code");
    if (code && /^[0-9]{6}$/.test(code)) $("cancel-code").value = code;
    for (const radio of document.querySelectorAll('input[name="reason"]')) {
      radio.addEventListener("change", () => {
        $("reason-other-box").hidden = !$("reason-other").checked;
      });
    }
    clearErrorsOnInput({
      "cancel-code-error": ["cancel-code"],
      "cancel-birth-error": ["cancel-birth-day", "cancel-birth-month", "cancel-birth-year"],
      "reason-error": [...document.querySelectorAll('input[name="reason"]')].map((r) => r.id),
      "reason-text-error": ["reason-text"],
    }, "cancel-error");
    $("cancel-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    onLanguageChange(() => this.renderDone());
    this.prepare();
    document.body.dataset.ready = "true";
  }

  validate() {
    const code = $("cancel-code").value.replace(/\s/g, "");
    const birth = birthDate("cancel-birth");
    const chosen = document.querySelector('input[name="reason"]:checked');
    const other = $("reason-text").value.trim();
    const wrong = [];
    if (setFieldError("cancel-code", "cancel-code-error", /^[0-9]{6}$/.test(code) ? null : "cancel.error.code")) wrong.push("cancel-code");
    if (setFieldError(["cancel-birth-day", "cancel-birth-month", "cancel-birth-year"], "cancel-birth-error", birth ? null : "error.birth")) wrong.push("cancel-birth-day");
    if (setFieldError("reason-unavailable", "reason-error", chosen ? null : "cancel.error.reason")) wrong.push("reason-unavailable");
    if (chosen?.value === "other") {
      if (setFieldError("reason-text", "reason-text-error", other ? null : "cancel.error.other")) wrong.push("reason-text");
    }
    if (wrong.length) {
      showError("cancel-error", "form.errors");
      $(wrong[0]).focus();
      return null;
    }
    showError("cancel-error", null);
    return {
      code, birth_date: birth, reason: chosen.value, reason_text: chosen.value === "other" ? other : "",
      website: $("cancel-website").value,
    };
  }

  async submit() {
    const body = this.validate();
    if (!body) return;
    const submit = $("cancel-submit");
    submit.disabled = true;
    bindText(submit, "cancel.busy");
    try {
      this.done = await this.send(body);
      this.renderDone();
      $("cancel-step").hidden = true;
      $("cancel-done").hidden = false;
      document.body.dataset.step = "cancelled";
      $("cancel-done-title").focus();
      announce(t("cancel.done.title"));
    } catch (error) {
      showError("cancel-error", ...errorMessage(error));
      $("cancel-error").scrollIntoView({ block: "center" });
    } finally {
      submit.disabled = false;
      bindText(submit, "cancel.submit");
    }
  }

  // A proof solved ahead, while the patient types (each one serves once).
  prepare() {
    this.ready = this.proof.take();
    this.ready.catch(() => {});
  }

  async send(body) {
    for (let attempt = 0; ; attempt += 1) {
      const ready = this.ready || this.proof.take();
      this.ready = null;
      try {
        const proof = await ready;
        return await api("/cancel", { method: "POST", body: { ...body, ...proof } });
      } catch (error) {
        this.prepare();
        if (error.body?.reason !== "proof" || attempt > 0) throw error;
      }
    }
  }

  renderDone() {
    if (!this.done) return;
    bindText($("cancel-done-text"), "cancel.done.text", {
      day: formatDay(this.done.day, { withYear: true }), time: this.done.time,
      cabin: this.done.cabin.name, town: this.done.cabin.town,
    });
  }
}

// --- start ------------------------------------------------------------------------------------

function start() {
  initLanguage();
  applyI18n(document);
  const cancelling = location.pathname.replace(/\/$/, "").endsWith("/annuler");
  const toggle = $("lang-toggle");
  const label = () => {
    toggle.lang = getLanguage() === "fr" ? "en" : "fr";
    toggle.textContent = t("lang.toggle");
    document.title = t(cancelling ? "app.cancel.title" : "app.title");
  };
  label();
  onLanguageChange(label);
  toggle.addEventListener("click", () => setLanguage(getLanguage() === "fr" ? "en" : "fr"));
  document.body.dataset.view = cancelling ? "cancel" : "book";
  if (cancelling) new CancelPage().start();
  else new BookingPage().start();
}

start();
