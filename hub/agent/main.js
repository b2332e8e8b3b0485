// The agents' alert page: sign in (the hub's login), then the open alerts of the agent's
// cabins, loudest first, with the alarm ringing until each is taken in charge ("J'y vais") or
// dismissed ("Fausse alerte"); then the handled ones, with who and when. A page that has lost
// its connection says so loudly: an agent must never trust a dead page. On (re)connection the
// hub sends the open alerts as one `alert_summary` (bounded: a cabin's most recent ones, and
// how many it has open); a cabin's repeats of one alert come merged into it, with their count.

import { ApiError, getMe, login, logout } from "/console/api.js";
import { alertAck, HUB_TO_AGENT, summaryAlerts } from "/console/messages.js";
import { HubSocket } from "/console/ws.js";
import { Alarm } from "./alarm.js";
import { h, replaceChildren } from "/console/dom.js";
import {
  applyI18n, bindText, formatDuration, formatTime, getLanguage, initLanguage, onLanguageChange,
  setLanguage, t,
} from "./i18n.js";

const $ = (id) => document.getElementById(id);
const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
const QUIET_KINDS = new Set(["printer", "device", "cabin_offline", "selftest_failed"]); // a chime, not the alarm
const HANDLED_KEPT = 50;

class AgentApp {
  constructor() {
    this.me = null;
    this.socket = null;
    this.open = new Map(); // alert_id -> {alert, escalation, pending, error}
    this.handled = []; // newest first: {alert, ack}
    this.hiddenOpen = new Map(); // cabin_id -> open alerts the last summary did not list
    this.clockOffsetMs = 0;
    this.status = "connecting";
    this.alarm = new Alarm({ onChange: () => this.showSound() });
    this.ticker = null;
    this.titleFlash = null;
  }

  start() {
    initLanguage();
    applyI18n(document);
    this.updateLanguageButton();
    $("lang-toggle").addEventListener("click", () => setLanguage(getLanguage() === "fr" ? "en" : "fr"));
    onLanguageChange(() => this.relabel());
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.alarm.unlock(); // the login click is a user gesture: sound may play from now on
      this.submitLogin();
    });
    $("logout").addEventListener("click", () => this.signOut());
    $("sound-enable").addEventListener("click", () => this.alarm.unlock());
    document.addEventListener("pointerdown", () => this.alarm.unlock(), { capture: true });
    this.start_();
  }

  async start_() {
    let me = null;
    try {
      me = await getMe();
    } catch {
      me = null;
    }
    if (me) this.enter(me);
    else this.showLogin();
  }

  relabel() {
    this.updateLanguageButton();
    this.showStatus(this.status);
    this.render();
  }

  updateLanguageButton() {
    bindText($("lang-toggle"), "lang.toggle");
  }

  showScreen(id) {
    for (const screen of ["login-screen", "doctor-screen", "alerts-screen"]) $(screen).hidden = screen !== id;
    document.body.dataset.screen = id.replace("-screen", "");
  }

  // --- login ---------------------------------------------------------------------------------

  showLogin(messageKey = null, args = undefined) {
    this.showScreen("login-screen");
    $("app-header-user").hidden = true;
    $("ws-state").hidden = true;
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
      this.enter(me);
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
      console.warn("agent.logout_failed", error instanceof ApiError ? error.status : error.name);
    }
    this.showLogin();
  }

  // --- signed in -----------------------------------------------------------------------------

  enter(me) {
    this.me = me;
    $("app-header-user").hidden = false;
    if (me.role !== "agent") {
      $("agent-name").textContent = me.doctor?.display_name ?? me.username;
      this.showScreen("doctor-screen");
      return;
    }
    $("agent-name").textContent = me.agent?.display_name ?? me.username;
    this.showScreen("alerts-screen");
    this.render();
    this.socket = new HubSocket({
      csrf: me.csrf_token,
      path: "/ws/agent",
      allowed: HUB_TO_AGENT,
      onMessage: (msg) => this.handleHub(msg),
      onStatus: (status) => this.showStatus(status),
      stillSignedIn: () => this.stillSignedIn(),
    });
    this.socket.start();
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  leave() {
    this.socket?.stop();
    this.socket = null;
    clearInterval(this.ticker);
    this.ticker = null;
    this.open.clear();
    this.hiddenOpen.clear();
    this.handled = [];
    this.me = null;
    this.alarm.ring(false);
    this.flashTitle(null);
    this.showStatus("open");
    $("ws-state").hidden = true;
    replaceChildren($("open-alerts"));
    replaceChildren($("handled-alerts"));
  }

  async stillSignedIn() {
    let me;
    try {
      me = await getMe();
    } catch {
      return true; // the hub is unreachable, not the session gone: keep trying
    }
    if (me) return true;
    this.leave();
    this.showLogin("session.expired");
    return false;
  }

  showStatus(status) {
    this.status = status;
    const pill = $("ws-state");
    pill.hidden = this.me === null;
    pill.dataset.state = status;
    // "reconnecting": its replica restarts, another takes the socket at once (no alarm banner)
    const text = { open: "ws.open", lost: "ws.lost", reconnecting: "ws.lost" }[status];
    bindText(pill, text ?? "ws.connecting");
    const lost = status === "lost";
    $("ws-lost").hidden = !lost || this.me === null;
    bindText($("ws-lost-text"), "ws.lost.banner");
    bindText($("ws-lost-detail"), "ws.lost.detail");
    document.body.dataset.connection = status;
    this.render();
  }

  showSound() {
    $("sound-banner").hidden = !(this.me && this.alarm.needsGesture);
  }

  // --- the hub's messages --------------------------------------------------------------------

  handleHub(msg) {
    switch (msg.type) {
      case "welcome":
        this.clockOffsetMs = Date.parse(msg.server_time) - Date.now();
        break;
      case "alert_summary":
        this.resync(msg);
        break;
      case "alert":
        this.received(msg.alert_id, { alert: msg });
        break;
      case "alert_escalated":
        this.received(msg.alert_id, { escalation: msg });
        break;
      case "alert_ack":
        this.acknowledged(msg);
        break;
      case "error":
        this.refused(msg);
        break;
      default:
        break; // ack: the relayed alert_ack says who; print_status: not shown here
    }
  }

  /** After a (re)connection the hub sends the open alerts in one summary: those open here it
   * does not list were handled meanwhile (unless their cabin has more open than it lists). */
  resync(summary) {
    const before = this.open;
    this.open = new Map();
    this.hiddenOpen.clear();
    const listed = new Map();
    for (const cabin of summary.cabins ?? []) {
      const hidden = cabin.open_count - (cabin.latest ?? []).length;
      if (hidden > 0) this.hiddenOpen.set(cabin.cabin_id, { cabin, hidden });
    }
    for (const { alert, escalation } of summaryAlerts(summary)) listed.set(alert.alert_id, { alert, escalation });
    for (const [id, fields] of listed) {
      const entry = before.get(id) ?? { alert: null, escalation: null, pending: false, error: null };
      Object.assign(entry, fields);
      this.open.set(id, entry);
    }
    for (const [id, entry] of before) {
      if (this.open.has(id)) continue;
      const info = entry.alert ?? entry.escalation;
      if (this.hiddenOpen.has(info.cabin_id)) this.open.set(id, entry);
      else this.handled.unshift({ alert: info, ack: null });
    }
    this.handled.length = Math.min(this.handled.length, HANDLED_KEPT);
    const fresh = [...listed.keys()].filter((id) => !before.has(id));
    if (fresh.some((id) => QUIET_KINDS.has(this.open.get(id).alert.kind))) this.alarm.chime();
    this.render();
  }

  received(alertId, fields) {
    if (this.handled.some((done) => done.alert.alert_id === alertId)) return;
    const isNew = !this.open.has(alertId);
    const entry = this.open.get(alertId) ?? { alert: null, escalation: null, pending: false, error: null };
    Object.assign(entry, fields);
    this.open.set(alertId, entry);
    const info = entry.alert ?? entry.escalation;
    if (isNew && QUIET_KINDS.has(info.kind)) this.alarm.chime();
    this.render();
  }

  acknowledged(ack) {
    const entry = this.open.get(ack.alert_id);
    this.open.delete(ack.alert_id);
    if (!entry) return;
    this.handled.unshift({ alert: entry.alert ?? entry.escalation, ack });
    this.handled.length = Math.min(this.handled.length, HANDLED_KEPT);
    this.render();
  }

  refused(msg) {
    for (const entry of this.open.values()) {
      if (entry.pending && entry.pendingMsgId === msg.in_reply_to) {
        entry.pending = false;
        entry.error = { key: "alert.refused", args: { text: msg.text || msg.code } };
      }
    }
    this.render();
  }

  answer(alertId, falseAlarm) {
    const entry = this.open.get(alertId);
    if (!entry || entry.pending) return;
    const msg = alertAck(alertId, this.me.username, falseAlarm);
    if (!this.socket?.send(msg)) {
      entry.error = { key: "alert.offline" };
      this.render();
      return;
    }
    entry.pending = true;
    entry.pendingMsgId = msg.msg_id;
    entry.error = null;
    this.render();
  }

  // --- drawing -------------------------------------------------------------------------------

  sortedOpen() {
    return [...this.open.entries()].sort(([, a], [, b]) => {
      const x = a.alert ?? a.escalation;
      const y = b.alert ?? b.escalation;
      const loud = Number(QUIET_KINDS.has(x.kind)) - Number(QUIET_KINDS.has(y.kind));
      if (loud !== 0) return loud;
      const rank = (SEVERITY_RANK[x.severity] ?? 3) - (SEVERITY_RANK[y.severity] ?? 3);
      if (rank !== 0) return rank;
      return Date.parse(x.raised_at) - Date.parse(y.raised_at);
    });
  }

  render() {
    if (!this.me) return;
    const open = this.sortedOpen();
    replaceChildren($("open-alerts"), ...open.map(([id, entry]) => this.openCard(id, entry)));
    this.renderCabinCounts(open);
    // "nothing open" is reassuring: never say it while the page is not connected
    $("open-empty").hidden = open.length > 0 || this.status !== "open";
    replaceChildren($("handled-alerts"), ...this.handled.map((done) => handledCard(done)));
    $("handled-empty").hidden = this.handled.length > 0;
    const urgent = open.filter(([, e]) => !QUIET_KINDS.has((e.alert ?? e.escalation).kind));
    this.alarm.ring(urgent.length > 0);
    this.flashTitle(urgent.length ? (urgent[0][1].alert ?? urgent[0][1].escalation) : null);
    document.body.dataset.openAlerts = String(open.length);
  }

  /** "N alertes ouvertes pour la cabine X" for each cabin with more than one open alert, or
   * whose alerts were repeated, or with open alerts the page was not sent. */
  renderCabinCounts(open) {
    const cabins = new Map();
    for (const [, entry] of open) {
      const info = entry.alert ?? entry.escalation;
      const cabin = cabins.get(info.cabin_id) ?? { name: info.cabin_name || info.cabin_id, open: 0, raised: 0 };
      cabin.open += 1;
      cabin.raised += entry.alert?.repeat_count ?? 1;
      cabins.set(info.cabin_id, cabin);
    }
    for (const [cabinId, { cabin, hidden }] of this.hiddenOpen) {
      const known = cabins.get(cabinId) ?? { name: cabin.cabin_name || cabinId, open: 0, raised: 0 };
      known.open += hidden;
      known.hidden = hidden;
      cabins.set(cabinId, known);
    }
    const lines = [...cabins.entries()]
      .filter(([, c]) => c.open > 1 || c.raised > c.open || c.hidden)
      .map(([cabinId, c]) => h("li", {
        data: { cabinId, testid: "cabin-count" },
        i18n: c.hidden ? "summary.cabin.hidden"
          : c.raised > c.open ? (c.open === 1 ? "summary.cabin.raised.one" : "summary.cabin.raised")
            : "summary.cabin",
        args: { count: c.open, cabin: c.name, raised: c.raised, shown: c.open - (c.hidden ?? 0) },
      }));
    replaceChildren($("cabin-counts"), ...lines);
    $("cabin-counts").hidden = lines.length === 0;
  }

  openCard(alertId, entry) {
    const info = entry.alert ?? entry.escalation;
    const quiet = QUIET_KINDS.has(info.kind);
    const raised = new Date(info.raised_at);
    return h("li", {
      class: `alert-card severity-${info.severity}${quiet ? " quiet" : ""}${entry.escalation ? " escalated" : ""}`,
      data: { alertId, testid: "open-alert", kind: info.kind, severity: info.severity },
      attrs: { role: "alert" },
    },
    h("div", { class: "alert-head" },
      h("span", { class: "alert-badge", i18n: `severity.${info.severity}` }),
      h("h3", { class: "alert-kind", i18n: `alert.kind.${info.kind}` })),
    h("p", { class: "alert-cabin", text: info.cabin_name || info.cabin_id }),
    h("p", { class: "alert-time" },
      h("span", { i18n: "alert.raised", args: { time: formatTime(raised) } }),
      " · ",
      h("span", { class: "alert-ago", data: { raisedAt: info.raised_at }, text: this.ago(raised) })),
    entry.alert && entry.alert.confidence < 1
      ? h("p", { class: "alert-meta", i18n: "alert.confidence",
        args: { percent: Math.round(entry.alert.confidence * 100) } })
      : null,
    entry.alert?.detail
      ? h("p", { class: "alert-meta", i18n: "alert.detail", args: { detail: entry.alert.detail } })
      : null,
    entry.alert?.repeat_count > 1
      ? h("p", { class: "alert-meta alert-repeats", data: { testid: "alert-repeats" },
        i18n: "alert.repeats", args: {
          count: entry.alert.repeat_count,
          time: formatTime(new Date(entry.alert.last_raised_at ?? entry.alert.raised_at)),
        } })
      : null,
    entry.escalation
      ? h("p", { class: "alert-escalated", data: { testid: "alert-escalated" },
        i18n: "alert.escalated", args: { number: entry.escalation.emergency_number } })
      : null,
    entry.error ? h("p", { class: "alert-error", i18n: entry.error.key, args: entry.error.args }) : null,
    h("div", { class: "alert-actions" },
      h("button", {
        class: "button go", attrs: { type: "button", disabled: entry.pending },
        data: { testid: "alert-go" }, i18n: entry.pending ? "alert.sending" : "alert.go",
        on: { click: () => this.answer(alertId, false) },
      }),
      h("button", {
        class: "button false-alarm", attrs: { type: "button", disabled: entry.pending },
        data: { testid: "alert-false" }, i18n: "alert.false",
        on: { click: () => this.answer(alertId, true) },
      })));
  }

  ago(date) {
    const now = Date.now() + this.clockOffsetMs;
    return t("alert.ago", { duration: formatDuration((now - date.getTime()) / 1000) });
  }

  tick() {
    for (const span of document.querySelectorAll(".alert-ago")) {
      span.textContent = this.ago(new Date(span.dataset.raisedAt));
    }
  }

  flashTitle(info) {
    clearInterval(this.titleFlash);
    this.titleFlash = null;
    document.title = t("app.title");
    if (!info) return;
    let on = false;
    this.titleFlash = setInterval(() => {
      on = !on;
      document.title = on ? t("title.alarm", { cabin: info.cabin_name || info.cabin_id }) : t("app.title");
    }, 800);
  }
}

const HUB_RESOLUTIONS = {
  "hub:back_online": "handled.back_online",
  "hub:selftest_passed": "handled.selftest_passed",
};

function handledCard({ alert, ack }) {
  let line;
  if (ack === null) line = h("p", { class: "handled-by", i18n: "handled.gone" });
  else if (HUB_RESOLUTIONS[ack.acknowledged_by]) {
    // an alert the hub raised and resolved itself (a cabin back online, a self-test passed)
    line = h("p", {
      class: "handled-by",
      i18n: HUB_RESOLUTIONS[ack.acknowledged_by],
      args: { time: formatTime(new Date(ack.acknowledged_at)) },
    });
  } else {
    const who = ack.acknowledged_by === "patient" ? t("handled.patient") : ack.acknowledged_by;
    line = h("p", {
      class: "handled-by",
      i18n: ack.false_alarm ? "handled.false" : "handled.by",
      args: { who, time: formatTime(new Date(ack.acknowledged_at)) },
    });
  }
  return h("li", {
    class: `alert-card handled${ack?.false_alarm ? " false" : ""}`,
    data: { alertId: alert.alert_id, testid: "handled-alert" },
  },
  h("div", { class: "alert-head" },
    h("span", { class: "handled-mark", text: "✓", attrs: { "aria-hidden": "true" } }),
    h("h3", { class: "alert-kind", i18n: `alert.kind.${alert.kind}` })),
  h("p", { class: "alert-cabin", text: alert.cabin_name || alert.cabin_id }),
  line);
}

function loginErrorMessage(error) {
  if (!(error instanceof ApiError)) return ["login.error.network"];
  if (error.status === 401) return ["login.error.credentials"];
  if (error.status === 429) {
    const seconds = Math.max(1, Math.ceil(Number(error.body?.retry_after_s) || 60));
    if (error.body?.reason === "locked") return ["login.error.locked", { minutes: Math.ceil(seconds / 60) }];
    return ["login.error.rate", { seconds }];
  }
  return ["login.error.server", { status: error.status }];
}

new AgentApp().start();
