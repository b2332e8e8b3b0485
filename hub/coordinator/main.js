// The coordinator's page: sign in (the hub's login), then every agenda of the coordinator's
// cabins side by side, a day at a time. A free slot, clicked, opens the booking form: a caller
// is booked in a few fields, and the code is shown big to read out, with a printable slip. A
// booked slot opens the appointment: print its slip, move it (pick another free slot of the
// cabin) or cancel it (a reason is required). The other tabs find a patient's bookings and
// visits, edit the rota, the opening hours and the closures (a conflict is refused and
// explained), and list the messages that could not be delivered, with the patient's phone.

import { ApiError, Coordination, getMe, login, logout } from "./api.js";
import { h, replaceChildren } from "/console/dom.js";
import {
  applyI18n, bindText, formatBirth, formatDay, formatDayIn, formatShortDay, getLanguage,
  initLanguage, onLanguageChange, setLanguage, spacedCode, t, tIn,
} from "./i18n.js";
import { RotaEditor } from "./rota.js";
import { addDays, isoDay } from "./days.js";
import { refusalText } from "./refusals.js";

const $ = (id) => document.getElementById(id);
const TABS = ["agenda", "patient", "rota", "failed"];
const CANCEL_PAGE = "/rendez-vous/annuler"; // the public booking page's cancel form
const FAILED_REFRESH_MS = 60_000;

class CoordinatorApp {
  constructor() {
    this.me = null;
    this.api = null;
    this.cabins = [];
    this.doctors = [];
    this.day = isoDay(new Date());
    this.agendaView = null;
    this.tab = "agenda";
    this.moving = null; // the appointment being moved
    this.detail = null; // the appointment open in the detail dialog
    this.bookingSlot = null;
    this.lastResults = null;
    this.lastSearch = null;
    this.failed = [];
    this.failedTimer = null;
    this.rota = null;
  }

  start() {
    initLanguage();
    applyI18n(document);
    bindText($("lang-toggle"), "lang.toggle");
    $("lang-toggle").addEventListener("click", () => setLanguage(getLanguage() === "fr" ? "en" : "fr"));
    onLanguageChange(() => this.relabel());
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitLogin();
    });
    $("logout").addEventListener("click", () => this.signOut());
    for (const tab of document.querySelectorAll("[data-tab]")) {
      tab.addEventListener("click", () => this.showTab(tab.dataset.tab));
    }
    $("day-prev").addEventListener("click", () => this.goTo(addDays(this.day, -1)));
    $("day-next").addEventListener("click", () => this.goTo(addDays(this.day, 1)));
    $("day-today").addEventListener("click", () => this.goTo(isoDay(new Date())));
    $("day-input").addEventListener("change", () => {
      if ($("day-input").value) this.goTo($("day-input").value);
    });
    $("book-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitBooking();
    });
    $("book-cancel").addEventListener("click", () => $("book-dialog").close());
    $("booked-close").addEventListener("click", () => $("book-dialog").close());
    $("booked-print").addEventListener("click", () => this.printSlip(this.justBooked));
    $("detail-close").addEventListener("click", () => $("detail-dialog").close());
    $("detail-print").addEventListener("click", () => this.printSlip(this.detail));
    $("detail-code").addEventListener("click", () => this.showCode(this.detail));
    $("detail-move").addEventListener("click", () => this.startMove(this.detail));
    $("detail-cancel").addEventListener("click", () => this.openCancel());
    $("cancel-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitCancel();
    });
    $("move-stop").addEventListener("click", () => this.stopMove());
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitSearch();
    });
    // back to the page (after another window, or a call): the agendas as they are now
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.api && this.tab === "agenda") this.loadAgenda();
    });
    this.enterIfSignedIn();
  }

  async enterIfSignedIn() {
    let me = null;
    try {
      me = await getMe();
    } catch {
      me = null;
    }
    if (me) await this.enter(me);
    else this.showLogin();
  }

  relabel() {
    bindText($("lang-toggle"), "lang.toggle");
    if (!this.me) return;
    this.renderAgenda();
    this.renderResults();
    this.renderFailed();
    this.rota?.render();
    this.renderMoveBanner();
    this.fillCancelReasons();
  }

  showScreen(id) {
    for (const screen of ["login-screen", "refused-screen", ...TABS.map((tab) => `${tab}-screen`)]) {
      $(screen).hidden = screen !== id;
    }
    document.body.dataset.screen = id.replace("-screen", "");
  }

  // --- sign-in ---------------------------------------------------------------------------

  showLogin(messageKey = null, args = undefined) {
    this.showScreen("login-screen");
    $("app-header-user").hidden = true;
    $("tabs").hidden = true;
    this.setLoginError(messageKey, args);
    $("login-username").focus();
  }

  setLoginError(key, args) {
    const box = $("login-error");
    if (key === null) {
      box.hidden = true;
      box.textContent = "";
      delete box.dataset.i18n;
      return;
    }
    bindText(box, key, args);
    box.hidden = false;
  }

  async submitLogin() {
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    if (!username || !password) {
      this.setLoginError("login.error.missing");
      return;
    }
    const button = $("login-submit");
    button.disabled = true;
    bindText(button, "login.busy");
    try {
      const me = await login(username, password);
      $("login-password").value = "";
      this.setLoginError(null);
      await this.enter(me);
    } catch (error) {
      $("login-password").value = "";
      this.setLoginError(...loginErrorMessage(error));
    } finally {
      button.disabled = false;
      bindText(button, "login.submit");
    }
  }

  async signOut() {
    const csrf = this.me?.csrf_token;
    this.leave();
    try {
      if (csrf) await logout(csrf);
    } catch (error) {
      console.warn("coordination.logout_failed", error instanceof ApiError ? error.status : error.name);
    }
    this.showLogin();
  }

  leave() {
    this.me = null;
    this.api = null;
    clearInterval(this.failedTimer);
    this.failedTimer = null;
    this.agendaView = null;
    this.lastResults = null;
    this.stopMove();
    replaceChildren($("agenda-grid"));
    replaceChildren($("search-results"));
    replaceChildren($("failed-list"));
  }

  async enter(me) {
    this.me = me;
    $("app-header-user").hidden = false;
    $("agent-name").textContent = me.agent?.display_name ?? me.doctor?.display_name ?? me.username;
    this.api = new Coordination(me.csrf_token);
    let setup;
    try {
      setup = await this.api.cabins();
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        this.showScreen("refused-screen");
        return;
      }
      if (error instanceof ApiError && error.status === 401) {
        this.showLogin("session.expired");
        return;
      }
      this.notice({ text: refusalText(error).text });
      this.showScreen("refused-screen");
      return;
    }
    this.cabins = setup.cabins;
    this.doctors = setup.doctors;
    $("tabs").hidden = false;
    this.rota = new RotaEditor(this);
    this.fillCancelReasons();
    this.showTab("agenda");
    await this.loadAgenda();
    this.loadFailed();
    this.failedTimer = setInterval(() => this.loadFailed(), FAILED_REFRESH_MS);
  }

  cabin(cabinId) {
    return this.cabins.find((cabin) => cabin.cabin_id === cabinId) ?? {
      cabin_id: cabinId, name: cabinId, town: "", timezone: "Europe/Paris",
    };
  }

  /** A request's 401 sends the coordinator back to the sign-in; other errors are returned. */
  async call(work) {
    try {
      return { value: await work() };
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.leave();
        this.showLogin("session.expired");
      }
      return { error };
    }
  }

  /** A line under the tabs: `key` (with `args`) re-labelled on a language switch, or a
   * text already in words (`{ text }`, the hub's refusal); null clears it. */
  notice(key, args = undefined) {
    const box = $("notice");
    delete box.dataset.i18n;
    delete box.dataset.i18nArgs;
    if (key === null) box.textContent = "";
    else if (typeof key === "object") box.textContent = key.text;
    else bindText(box, key, args);
    box.hidden = key === null;
  }

  showTab(tab) {
    if (tab !== this.tab) this.notice(null);
    this.tab = tab;
    this.showScreen(`${tab}-screen`);
    for (const button of document.querySelectorAll("[data-tab]")) {
      if (button.dataset.tab === tab) button.setAttribute("aria-current", "page");
      else button.removeAttribute("aria-current");
    }
    if (tab === "rota") this.rota.load();
    if (tab === "failed") this.loadFailed();
    if (tab === "agenda" && this.agendaView === null && this.api) this.loadAgenda();
  }

  // --- the agendas -----------------------------------------------------------------------

  goTo(day) {
    this.day = day;
    this.loadAgenda();
  }

  async loadAgenda() {
    const { value, error } = await this.call(() => this.api.agenda(this.day));
    if (error) {
      this.notice({ text: refusalText(error).text });
      return;
    }
    this.agendaView = value;
    this.renderAgenda();
  }

  renderAgenda() {
    const view = this.agendaView;
    $("day-input").value = this.day;
    $("day-title").textContent = formatDay(this.day);
    if (!view) return;
    replaceChildren(
      $("week-strip"),
      ...view.week.map((count) =>
        h("li", {},
          h("button", {
            class: "week-day", attrs: { type: "button", "aria-current": count.day === this.day ? "date" : null },
            data: { testid: "week-day", day: count.day },
            ariaLabel: ["week.day", { day: formatDay(count.day), booked: count.booked, free: count.free }],
            on: { click: () => this.goTo(count.day) },
          },
          h("span", { class: "week-name", text: formatShortDay(count.day) }),
          h("span", { class: "week-booked", text: t("week.booked", { n: count.booked }) }),
          h("span", { class: "week-free", text: t("week.free", { n: count.free }) })),
        ),
      ),
    );
    $("agenda-empty").hidden = view.cabins.length > 0;
    const grid = $("agenda-grid");
    grid.style.setProperty("--columns", String(Math.max(1, view.cabins.length)));
    replaceChildren(grid, ...view.cabins.map((day) => this.renderColumn(day)));
  }

  renderColumn(day) {
    const cabin = this.cabin(day.cabin_id);
    const movingHere = this.moving && this.moving.cabin_id === day.cabin_id;
    const movingElsewhere = this.moving && !movingHere;
    const slots = day.slots.map((slot) => this.renderSlot(cabin, slot, movingHere, movingElsewhere));
    const doctors = [...new Set(day.slots.flatMap((slot) => slot.doctors))].map((d) => this.doctorName(d));
    return h("section", {
      class: "cabin-column", data: { testid: "cabin-column", cabinId: day.cabin_id },
      attrs: { "aria-labelledby": `col-${day.cabin_id}` },
    },
    h("h3", { id: `col-${day.cabin_id}`, class: "cabin-name" },
      h("span", { text: cabin.name }), " ", h("span", { class: "muted town", text: cabin.town })),
    doctors.length > 0
      ? h("p", { class: "doctors muted", data: { testid: "column-doctors" }, i18n: "agenda.doctors", args: { doctors: doctors.join(", ") } })
      : null,
    day.closed ? h("p", { class: "closed", i18n: "agenda.closed", args: { reason: day.closed } }) : null,
    day.unavailable
      ? h("p", { class: "closed", data: { testid: "cabin-unavailable" }, attrs: { role: "status" }, i18n: "agenda.unavailable" })
      : null,
    slots.length === 0 && !day.closed ? h("p", { class: "muted", i18n: "agenda.none" }) : null,
    h("ol", { class: "slot-list" }, ...slots),
    day.cancelled.length > 0
      ? h("details", { class: "cancelled" },
        h("summary", { i18n: "agenda.cancelled" }),
        h("ul", {}, ...day.cancelled.map((appointment) =>
          h("li", {},
            h("button", {
              class: "button link", attrs: { type: "button" }, data: { testid: "cancelled-appointment" },
              text: `${appointment.local_time} ${appointment.family_name} ${appointment.given_names}`,
              on: { click: () => this.openDetail(appointment) },
            })))))
      : null);
  }

  renderSlot(cabin, slot, movingHere, movingElsewhere) {
    const booked = slot.appointment;
    const doctors = slot.doctors.map((username) => this.doctorName(username)).join(", ");
    const item = h("li", { class: `slot slot-${slot.state}`, data: { testid: "slot", state: slot.state, time: slot.local_time } });
    if (booked) {
      item.append(h("button", {
        class: "slot-button", attrs: { type: "button" },
        data: { testid: "slot-booked", appointmentId: booked.appointment_id, status: booked.status },
        on: { click: () => this.openDetail(booked) },
      },
      h("span", { class: "slot-time", text: slot.local_time }),
      h("span", { class: "slot-who" },
        h("strong", { text: `${booked.family_name} ${booked.given_names}` }),
        h("span", { class: "slot-phone", text: booked.phone })),
      h("span", { class: `status status-${booked.status}`, i18n: `status.${booked.status}` })));
      return item;
    }
    if (slot.state === "free" && !movingElsewhere) {
      item.append(h("button", {
        class: movingHere ? "slot-button slot-target" : "slot-button",
        attrs: { type: "button", title: doctors ? t("agenda.doctors", { doctors }) : null },
        data: { testid: movingHere ? "slot-move-here" : "slot-free", startsAt: slot.starts_at },
        ariaLabel: [movingHere ? "slot.move" : "slot.book", { time: slot.local_time }],
        on: { click: () => (movingHere ? this.moveTo(slot) : this.openBooking(cabin, slot)) },
      },
      h("span", { class: "slot-time", text: slot.local_time }),
      h("span", { class: "slot-label", i18n: "slot.free" })));
      return item;
    }
    item.append(h("span", { class: "slot-time", text: slot.local_time }),
      h("span", { class: "slot-label", i18n: slot.state === "walk_in" ? "slot.walk_in" : slot.state === "past" ? "slot.past" : "slot.free" }));
    return item;
  }

  doctorName(username) {
    return this.doctors.find((doctor) => doctor.username === username)?.display_name ?? username;
  }

  // --- booking a caller -------------------------------------------------------------------

  openBooking(cabin, slot) {
    this.bookingSlot = { cabin, slot };
    $("book-form").hidden = false;
    $("booked").hidden = true;
    $("book-form").reset();
    $("book-language").value = "fr";
    $("book-error").hidden = true;
    $("book-slot").textContent = t("book.slot", {
      cabin: cabin.name, town: cabin.town, date: formatDay(this.day), time: slot.local_time,
    });
    $("book-dialog").showModal();
    $("book-family").focus();
  }

  async submitBooking() {
    const family = $("book-family").value.trim();
    const given = $("book-given").value.trim();
    const birth = $("book-birth").value;
    if (!family || !given || !birth) {
      this.bookError(t("form.missing"));
      return;
    }
    if (!$("book-consent").checked) {
      this.bookError(t("form.consent.missing"));
      return;
    }
    const { cabin, slot } = this.bookingSlot;
    const button = $("book-submit");
    button.disabled = true;
    bindText(button, "book.busy");
    const { value, error } = await this.call(() => this.api.book({
      cabin_id: cabin.cabin_id,
      starts_at: slot.starts_at,
      family_name: family,
      given_names: given,
      birth_date: birth,
      phone: $("book-phone").value.trim(),
      email: $("book-email").value.trim(),
      language: $("book-language").value,
      reason: $("book-reason").value.trim(),
      consent: true,
    }));
    button.disabled = false;
    bindText(button, "book.submit");
    if (error) {
      this.bookError(refusalText(error).text);
      if (error instanceof ApiError && error.body?.reason === "slot_taken") this.loadAgenda();
      return;
    }
    this.justBooked = value;
    $("book-form").hidden = true;
    $("booked").hidden = false;
    $("booked-code").textContent = spacedCode(value.code);
    $("booked-slot").textContent = t("book.slot", {
      cabin: value.cabin_name, town: value.town, date: formatDay(value.local_date), time: value.local_time,
    });
    $("booked-print").focus();
    this.loadAgenda();
  }

  bookError(text) {
    $("book-error").textContent = text;
    $("book-error").hidden = false;
  }

  // --- one appointment: slip, move, cancel ------------------------------------------------

  openDetail(appointment) {
    this.detail = appointment;
    const rows = [
      ["detail.patient", `${appointment.family_name} ${appointment.given_names}`],
      ["detail.birth", formatBirth(appointment.birth_date)],
      ["detail.phone", appointment.phone || t("detail.none")],
      ["detail.email", appointment.email || t("detail.none")],
      ["detail.when", t("book.slot", {
        cabin: appointment.cabin_name, town: appointment.town,
        date: formatDay(appointment.local_date), time: appointment.local_time,
      })],
      ["detail.status", t(`status.${appointment.status}`)],
      ["detail.booked", t("detail.booked.by", {
        channel: t(`channel.${appointment.channel}`), who: appointment.booked_by || "—",
      })],
      ["detail.doctor", appointment.doctor ? this.doctorName(appointment.doctor) : t("detail.none")],
    ];
    if (appointment.code) rows.push(["detail.code", spacedCode(appointment.code)]);
    if (appointment.status === "cancelled") {
      rows.push(["detail.cancelled", `${appointment.cancel_reason} (${appointment.cancelled_by})`]);
    }
    replaceChildren($("detail-list"), ...rows.flatMap(([key, value]) => [
      h("dt", { i18n: key }), h("dd", { text: value, data: { field: key.slice(7) } }),
    ]));
    const active = appointment.status === "booked";
    $("detail-move").hidden = !active;
    $("detail-cancel").hidden = !active;
    const opens = active || appointment.status === "arrived";
    $("detail-code").hidden = !opens || Boolean(appointment.code);
    $("detail-print").hidden = !opens;
    $("cancel-form").hidden = true;
    $("cancel-error").hidden = true;
    if (!$("detail-dialog").open) $("detail-dialog").showModal();
    $("detail-close").focus();
  }

  fillCancelReasons() {
    replaceChildren($("cancel-reasons"), ...[1, 2, 3, 4].map((n) => h("option", { attrs: { value: t(`cancel.reason.${n}`) } })));
  }

  openCancel() {
    $("cancel-form").hidden = false;
    $("cancel-reason").value = "";
    $("cancel-reason").focus();
  }

  async submitCancel() {
    const reason = $("cancel-reason").value.trim();
    if (reason.length < 2) {
      $("cancel-error").textContent = t("cancel.missing");
      $("cancel-error").hidden = false;
      return;
    }
    const { value, error } = await this.call(() => this.api.cancel(this.detail.appointment_id, reason));
    if (error) {
      $("cancel-error").textContent = refusalText(error).text;
      $("cancel-error").hidden = false;
      return;
    }
    this.openDetail(value);
    this.notice("cancel.done");
    this.loadAgenda();
    this.refreshSearch();
  }

  startMove(appointment) {
    this.moving = appointment;
    $("detail-dialog").close();
    this.day = appointment.local_date;
    this.renderMoveBanner();
    this.showTab("agenda");
    this.loadAgenda();
  }

  renderMoveBanner() {
    const moving = this.moving;
    $("move-banner").hidden = !moving;
    if (!moving) return;
    $("move-text").textContent = t("move.text", {
      cabin: moving.cabin_name, patient: `${moving.family_name} ${moving.given_names}`,
      date: formatDay(moving.local_date), time: moving.local_time,
    });
  }

  stopMove() {
    this.moving = null;
    this.renderMoveBanner();
    this.renderAgenda();
  }

  async moveTo(slot) {
    const { value, error } = await this.call(() => this.api.move(this.moving.appointment_id, slot.starts_at));
    if (error) {
      this.notice({ text: refusalText(error).text });
      this.loadAgenda();
      return;
    }
    this.moving = null;
    this.renderMoveBanner();
    this.notice("move.done", { date: formatDay(value.local_date), time: value.local_time });
    await this.loadAgenda();
    this.refreshSearch();
    this.openDetail(value);
  }

  /** The appointment with its code: asked of the hub (audited) when the view has none. */
  async withCode(appointment) {
    if (appointment.code) return appointment;
    const { value, error } = await this.call(() => this.api.appointment(appointment.appointment_id));
    if (error) {
      this.notice({ text: refusalText(error).text });
      return null;
    }
    return value;
  }

  async showCode(appointment) {
    const full = await this.withCode(appointment);
    if (full) this.openDetail(full);
  }

  async printSlip(shown) {
    if (!shown) return;
    const appointment = await this.withCode(shown);
    if (!appointment) return;
    if (this.detail?.appointment_id === appointment.appointment_id && !this.detail.code) {
      this.openDetail(appointment);
    }
    const lang = appointment.language === "en" ? "en" : "fr";
    const say = (id, key, args) => { $(id).textContent = tIn(lang, key, args); };
    const slip = $("slip");
    slip.lang = lang;
    say("slip-title", "slip.title");
    say("slip-cabin-label", "slip.cabin");
    say("slip-town-label", "slip.town");
    say("slip-date-label", "slip.date");
    say("slip-time-label", "slip.time");
    say("slip-code-label", "slip.code");
    say("slip-arrive", "slip.arrive");
    say("slip-cancel", "slip.cancel", { url: `${window.location.origin}${CANCEL_PAGE}` });
    $("slip-who").textContent = `${appointment.family_name} ${appointment.given_names}`;
    $("slip-cabin").textContent = appointment.cabin_name;
    $("slip-town").textContent = appointment.town;
    $("slip-date").textContent = formatDayIn(lang, appointment.local_date);
    $("slip-time").textContent = appointment.local_time;
    $("slip-code").textContent = spacedCode(appointment.code);
    document.body.dataset.slip = "ready";
    window.print();
  }

  // --- finding a patient ------------------------------------------------------------------

  async submitSearch() {
    const who = {
      family_name: $("search-family").value.trim(),
      given_names: $("search-given").value.trim(),
      birth_date: $("search-birth").value,
    };
    if (!who.family_name || !who.birth_date) {
      $("search-error").textContent = t("search.missing");
      $("search-error").hidden = false;
      return;
    }
    $("search-error").hidden = true;
    this.lastSearch = who;
    await this.refreshSearch();
  }

  async refreshSearch() {
    if (!this.lastSearch) return;
    const { value, error } = await this.call(() => this.api.search(this.lastSearch));
    if (error) {
      $("search-error").textContent = refusalText(error).text;
      $("search-error").hidden = false;
      return;
    }
    this.lastResults = value;
    this.renderResults();
  }

  renderResults() {
    const found = this.lastResults;
    if (!found) return;
    const appointments = found.appointments.map((appointment) =>
      h("li", { class: "result", data: { testid: "result", appointmentId: appointment.appointment_id, status: appointment.status } },
        h("span", { text: t("book.slot", {
          cabin: appointment.cabin_name, town: appointment.town,
          date: formatDay(appointment.local_date), time: appointment.local_time,
        }) }),
        h("span", { class: `status status-${appointment.status}`, i18n: `status.${appointment.status}` }),
        h("button", {
          class: "button", attrs: { type: "button" }, data: { testid: "result-open" }, i18n: "search.open",
          on: { click: () => this.openDetail(appointment) },
        })));
    const visits = found.visits.map((visit) =>
      h("li", { class: "visit", data: { testid: "visit" }, text: t("search.visit", {
        date: formatDay(visit.at.slice(0, 10)), cabin: visit.cabin_name,
        doctor: visit.doctor ? this.doctorName(visit.doctor) : "—",
      }) }));
    replaceChildren($("search-results"),
      h("div", { class: "panel" },
        this.lastSearch?.given_names ? null : h("p", { class: "muted", i18n: "search.family.only" }),
        h("h3", { i18n: "search.appointments" }),
        appointments.length ? h("ol", { class: "result-list" }, ...appointments) : h("p", { class: "muted", i18n: "search.none" }),
        h("h3", { i18n: "search.visits" }),
        visits.length ? h("ol", { class: "result-list" }, ...visits) : h("p", { class: "muted", i18n: "search.novisit" })));
  }

  // --- messages not delivered -------------------------------------------------------------

  async loadFailed() {
    if (!this.api) return;
    const { value, error } = await this.call(() => this.api.failed());
    if (error) return;
    this.failed = value;
    this.renderFailed();
  }

  renderFailed() {
    const count = $("failed-count");
    count.hidden = this.failed.length === 0;
    count.textContent = String(this.failed.length);
    $("failed-empty").hidden = this.failed.length > 0;
    replaceChildren($("failed-list"), ...this.failed.map((failed) => {
      const appointment = failed.appointment;
      return h("li", { class: "panel failed", data: { testid: "failed", notificationId: failed.notification_id } },
        h("p", { class: "failed-what", text: t("failed.item", {
          kind: t(`kind.${failed.kind}`), channel: t(`nchannel.${failed.channel}`),
          patient: appointment ? `${appointment.family_name} ${appointment.given_names}` : "—",
          date: appointment ? formatDay(appointment.local_date) : "—",
          time: appointment?.local_time ?? "—", cabin: appointment?.cabin_name ?? "—",
        }) }),
        appointment?.phone
          ? h("a", { class: "button primary", attrs: { href: `tel:${appointment.phone}` }, data: { testid: "failed-call" },
            i18n: "failed.call", args: { phone: appointment.phone } })
          : h("p", { class: "muted", i18n: "failed.nophone" }),
        h("p", { class: "muted", i18n: "failed.error", args: { error: failed.error, attempts: failed.attempts } }),
        appointment ? h("button", {
          class: "button link", attrs: { type: "button" }, i18n: "search.open",
          on: { click: () => this.openDetail(appointment) },
        }) : null);
    }));
  }
}

function loginErrorMessage(error) {
  if (!(error instanceof ApiError)) return ["login.error.network"];
  const body = error.body ?? {};
  if (error.status === 401) return ["login.error.credentials"];
  if (error.status === 429 && body.reason === "locked") {
    return ["login.error.locked", { minutes: Math.max(1, Math.ceil((body.retry_after_s ?? 60) / 60)) }];
  }
  if (error.status === 429) return ["login.error.rate", { seconds: body.retry_after_s ?? 60 }];
  return ["login.error.server", { status: error.status }];
}

new CoordinatorApp().start();
