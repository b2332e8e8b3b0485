// The console's composition: login, the hub's websocket, the waiting room, the call screen.

import { AccountUi } from "./account.js";
import { AgendaView, FollowUpFlag } from "./agenda.js";
import { AlertBanners } from "./alerts.js";
import { ApiError, getMe, login, logout } from "./api.js";
import { Consultation } from "./consultation.js";
import { clear } from "./dom.js";
import { applyI18n, bindText, getLanguage, initLanguage, onLanguageChange, setLanguage, t } from "./i18n.js";
import { takeConsultation } from "./messages.js";
import { closeLocalMedia, openLocalMedia } from "./call.js";
import { WaitingRoomView } from "./waiting.js";
import { HandoverScreen } from "./handover.js";
import { HubSocket } from "./ws.js";

const $ = (id) => document.getElementById(id);

class ConsoleApp {
  constructor() {
    this.me = null;
    this.socket = null;
    this.waiting = null;
    this.consultation = null;
    this.entries = [];
    this.pendingTake = null; // {msgId, consultationId, media}
    this.clockOffsetMs = 0; // hub clock minus ours, from Welcome
    this.finished = new Set(); // ids of the consultations ended on this page (ids only)
    this.undeliveredEnds = []; // CallEnd messages to send when the hub's socket is back
    this.bannerTimer = null;
    this.agenda = null;
    this.handover = null;
    this.account = new AccountUi();
    this.alerts = new AlertBanners({
      root: $("alert-banners"),
      send: (msg) => this.send(msg),
      username: () => this.me?.username ?? "",
    });
  }

  async start() {
    initLanguage();
    applyI18n(document);
    this.updateLanguageButton();
    $("lang-toggle").addEventListener("click", () => setLanguage(getLanguage() === "fr" ? "en" : "fr"));
    onLanguageChange(() => this.relabel());
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitLogin();
    });
    $("logout").addEventListener("click", () => this.signOut());
    this.account.bind();
    $("login-username").addEventListener("change", () => this.account.resetLogin());
    $("hub-error-dismiss").addEventListener("click", () => this.showHubError(null));
    for (const tab of document.querySelectorAll("#console-tabs [data-tab]")) {
      tab.addEventListener("click", () => this.openTab(tab.dataset.tab));
    }
    let me = null;
    try {
      me = await getMe();
    } catch {
      me = null; // hub unreachable: the login form says so when the doctor tries
    }
    if (me) this.enter(me);
    else this.showLogin();
  }

  relabel() {
    this.updateLanguageButton();
    this.waiting?.render();
    this.agenda?.relabel();
    this.handover?.relabel();
    this.consultation?.relabel();
    this.alerts.relabel();
  }

  updateLanguageButton() {
    const button = $("lang-toggle");
    bindText(button, "lang.toggle");
    button.setAttribute("lang", getLanguage() === "fr" ? "en" : "fr");
  }

  // --- login ---------------------------------------------------------------------------------

  showLogin(messageKey = null) {
    this.showScreen("login-screen");
    $("app-header-user").hidden = true;
    this.account.resetLogin();
    this.setLoginError(messageKey);
    $("login-username").focus();
  }

  setLoginError(key, args) {
    const box = $("login-error");
    if (key === null) {
      box.textContent = "";
      delete box.dataset.i18n;
      box.hidden = true;
      delete box.dataset.kind;
      return;
    }
    bindText(box, key, args);
    box.dataset.kind = key;
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
    const code = this.account.loginCode();
    try {
      const me = await login(username, password, code);
      $("login-password").value = "";
      this.setLoginError(null);
      this.enter(me);
    } catch (error) {
      const secondStep = this.account.secondFactorAsked(error, code !== null);
      if (secondStep) {
        this.setLoginError(secondStep); // the password stays typed for the code's step
        return;
      }
      $("login-password").value = "";
      this.setLoginError(...loginErrorMessage(error));
      $("login-password").focus();
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
      console.warn("console.logout_failed", error instanceof ApiError ? error.status : error.name);
    }
    this.showLogin();
  }

  // --- signed in -----------------------------------------------------------------------------

  enter(me) {
    if (me.role && me.role !== "doctor") {
      // an agent's account: their page is /agent (an operator's: the fleet page); not this console
      window.location.assign(me.role === "operator" ? "/flotte" : "/agent");
      return;
    }
    this.me = me;
    this.account.signedIn(me);
    const user = $("app-header-user");
    user.hidden = false;
    $("doctor-name").textContent = me.doctor?.display_name ?? me.username;
    $("doctor-specialty").textContent = me.doctor?.specialty ?? "";
    this.waiting = new WaitingRoomView({
      onAccept: (id) => this.take(id),
      serverNow: () => Date.now() + this.clockOffsetMs,
      me: () => this.me?.username ?? "",
    });
    $("waiting-screen").append(this.waiting.root);
    this.agenda = new AgendaView({ csrf: me.csrf_token, onFlagged: () => this.handover?.load() });
    $("agenda-screen").append(this.agenda.root);
    this.handover = new HandoverScreen({
      me,
      onUnread: (n) => this.showUnread(n),
      onLater: () => this.openTab("waiting-screen"),
    });
    $("handover-screen").append(this.handover.root);
    this.showScreen("waiting-screen");
    // Unread handovers first (never blocking: the tabs and the waiting room stay usable).
    this.handover.load().then((unread) => {
      if (unread > 0 && this.me === me && document.body.dataset.screen === "waiting") {
        this.openTab("handover-screen");
      }
    });
    this.socket = new HubSocket({
      csrf: me.csrf_token,
      onMessage: (msg) => this.handleHub(msg),
      onStatus: (status) => this.showSocketStatus(status),
      stillSignedIn: () => this.stillSignedIn(),
    });
    this.socket.start();
  }

  /** Back to a blank page: socket closed, call ended, every patient's data dropped. */
  leave() {
    if (this.consultation) {
      this.consultation.hangUp("doctor_left");
    }
    this.socket?.stop();
    this.socket = null;
    this.waiting?.dispose();
    this.waiting = null;
    this.agenda?.dispose();
    this.agenda = null;
    this.handover?.dispose();
    this.handover = null;
    this.showUnread(0);
    this.entries = [];
    if (this.pendingTake) closeLocalMedia(this.pendingTake.media);
    this.pendingTake = null;
    this.undeliveredEnds = [];
    this.alerts.clearAll();
    this.account.signedOut();
    this.me = null;
    this.showSocketStatus("open");
    this.showHubError(null);
    clear($("waiting-screen"));
    clear($("agenda-screen"));
    clear($("handover-screen"));
    clear($("call-screen"));
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

  send(msg) {
    const sent = this.socket?.send(msg) ?? false;
    return sent;
  }

  showScreen(id) {
    const screens = ["login-screen", "waiting-screen", "agenda-screen", "handover-screen", "call-screen"];
    for (const screen of screens) $(screen).hidden = screen !== id;
    document.body.dataset.screen = id.replace("-screen", "");
    $("console-tabs").hidden = id === "login-screen" || id === "call-screen";
    for (const tab of document.querySelectorAll("#console-tabs [data-tab]")) {
      if (tab.dataset.tab === id) tab.setAttribute("aria-current", "page");
      else tab.removeAttribute("aria-current");
    }
  }

  /** The waiting room, the agenda or the handovers (the call screen stays while in a call). */
  openTab(id) {
    if (this.consultation || !this.me) return;
    this.showScreen(id);
    if (id === "agenda-screen") this.agenda?.load().then(() => $("agenda-title")?.focus());
    else if (id === "handover-screen") this.handover?.load().then(() => $("handover-title")?.focus());
    else $("waiting-title")?.focus();
  }

  showUnread(n) {
    const badge = $("handover-badge");
    badge.hidden = n === 0;
    if (n > 0) bindText(badge, "tabs.badge", { n });
    $("tab-handover").dataset.unread = String(n);
  }

  showSocketStatus(status) {
    const banner = $("ws-banner");
    clearTimeout(this.bannerTimer);
    banner.dataset.state = status;
    if (status === "open") {
      banner.hidden = true;
      return;
    }
    bindText(banner, { lost: "ws.lost", reconnecting: "ws.reconnecting" }[status] ?? "ws.connecting");
    // a first connection, or one back from a replica's restart, usually opens at once: say so
    // only if it takes a while
    if (status === "lost") banner.hidden = false;
    else this.bannerTimer = setTimeout(() => { banner.hidden = false; }, 1500);
  }

  showHubError(text) {
    const box = $("hub-error");
    if (text === null) {
      box.hidden = true;
      $("hub-error-text").textContent = "";
      return;
    }
    $("hub-error-text").textContent = t("error.hub", { text });
    box.hidden = false;
  }

  // --- the hub's messages --------------------------------------------------------------------

  handleHub(msg) {
    switch (msg.type) {
      case "welcome":
        this.clockOffsetMs = Date.parse(msg.server_time) - Date.now();
        this.consultation?.handleReconnected();
        this.undeliveredEnds = this.undeliveredEnds.filter((end) => !this.send(end));
        break;
      case "waiting_room":
        this.entries = msg.entries;
        this.waiting?.update(msg.entries);
        this.consultation?.handleWaitingRoom(msg.entries);
        break;
      case "call_accepted":
        this.startCall(msg);
        break;
      case "ack":
        this.consultation?.handleAck(msg.ack_of);
        break;
      case "error":
        this.handleError(msg);
        break;
      case "sdp_offer":
      case "ice_candidate":
      case "call_end":
      case "reading":
      case "prescription":
      case "prescription_delivered":
      case "consultation_notes":
        if (this.consultation && msg.consultation_id === this.consultation.id) this.consultation.handleHub(msg);
        break;
      case "alert":
      case "alert_escalated":
      case "alert_ack":
      case "alert_summary":
        this.alerts.handle(msg);
        break;
      default:
        break;
    }
  }

  handleError(msg) {
    const inReplyTo = msg.in_reply_to ?? null;
    if (this.pendingTake && inReplyTo === this.pendingTake.msgId) {
      closeLocalMedia(this.pendingTake.media); // someone else took the patient
      const { consultationId } = this.pendingTake;
      this.pendingTake = null;
      this.waiting.setPending(null);
      if (msg.code === "conflict") this.waiting.showNotice(this.waiting.conflictNotice(consultationId));
      else if (msg.code === "unavailable") this.waiting.showNotice("waiting.unavailable");
      else if (msg.code === "not_found") this.waiting.showNotice("waiting.gone");
      else this.showHubError(msg.text || t(`error.code.${msg.code}`));
      return;
    }
    if (this.consultation?.handleError(msg)) return;
    this.showHubError(msg.text || t(`error.code.${msg.code}`));
  }

  take(consultationId) {
    if (this.pendingTake || this.consultation) return;
    const msg = takeConsultation(consultationId);
    this.waiting.showNotice(null);
    if (!this.send(msg)) {
      this.waiting.showNotice("ws.lost");
      return;
    }
    this.pendingTake = { msgId: msg.msg_id, consultationId, media: openLocalMedia() };
    this.waiting.setPending(consultationId);
  }

  startCall(accepted) {
    if (!accepted.patient) return;
    if (this.finished.has(accepted.consultation_id)) return; // hung up while the socket was down
    if (this.consultation) {
      if (this.consultation.id === accepted.consultation_id) {
        // sent again after a reconnection: the call goes on, with TURN credentials valid from now
        this.consultation.renewIce(accepted);
        return;
      }
      this.consultation.hangUp("doctor_left");
    }
    const early = this.pendingTake?.consultationId === accepted.consultation_id
      ? this.pendingTake.media : null;
    this.pendingTake = null;
    this.waiting.setPending(null);
    this.waiting.showNotice(null);
    this.showHubError(null);
    const entry = this.entries.find((e) => e.consultation_id === accepted.consultation_id) ?? null;
    this.consultation = new Consultation({
      accepted,
      entry,
      earlyMedia: early,
      sendToHub: (msg) => this.send(msg),
      onEnded: (reason, undelivered) => this.endCall(accepted.consultation_id, reason, undelivered),
    });
    $("call-screen").append(this.consultation.root);
    const flag = new FollowUpFlag({ consultationId: accepted.consultation_id, csrf: this.me.csrf_token });
    flag.root.classList.add("panel", "call-followup");
    $("call-screen").append(flag.root);
    flag.refresh();
    this.showScreen("call-screen");
    $("patient-name").focus();
  }

  endCall(consultationId, reason, undelivered) {
    this.consultation = null;
    this.finished.add(consultationId);
    if (undelivered) this.undeliveredEnds.push(undelivered);
    clear($("call-screen"));
    if (!this.waiting) return; // signing out
    this.showScreen("waiting-screen");
    this.waiting.showNotice("waiting.ended.reason", { reason: t(`reason.${reason}`) });
    $("waiting-title").focus();
  }
}

function loginErrorMessage(error) {
  if (!(error instanceof ApiError)) return ["login.error.network"];
  if (error.status === 401) return ["login.error.credentials"];
  if (error.status === 429) {
    // the hub says which: the account is locked, or this address tried too often
    const seconds = Math.max(1, Math.ceil(Number(error.body?.retry_after_s) || 60));
    if (error.body?.reason === "locked") {
      return ["login.error.locked", { minutes: Math.ceil(seconds / 60) }];
    }
    return ["login.error.rate", { seconds }];
  }
  if (error.status === 503) return ["login.error.busy"];
  return ["login.error.server", { status: error.status }];
}

new ConsoleApp().start();
