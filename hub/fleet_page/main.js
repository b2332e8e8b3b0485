// The operator's fleet page: sign in (the hub's one login), then every cabin's health in one
// table, the broken ones first (offline, a failed self-test, open alerts, paper out, a low
// battery), refreshed every REFRESH_MS from /api/fleet/cabins. Each row opens its details: the
// checks that failed and what they found, the instruments and their batteries, the printer and
// its paper, the open alerts, the consultations of the day and the week, and the call quality
// (the last call, and the week's medians). Times are shown in each cabin's time zone.

import { ApiError, getMe, login, logout } from "/console/api.js";
import { h, replaceChildren } from "/console/dom.js";
import {
  applyI18n, bindText, formatClock, formatIn, formatNumber, getLanguage, initLanguage,
  onLanguageChange, setLanguage, t,
} from "./i18n.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 10_000;
const LOW_BATTERY = 20;
const BAD = new Set(["offline", "selftest_failed", "alerts", "paper_out", "printer"]);

async function fetchFleet() {
  const response = await fetch("/api/fleet/cabins", {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
    cache: "no-store",
    redirect: "error",
  });
  const type = response.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

class FleetApp {
  constructor() {
    this.me = null;
    this.fleet = null;
    this.updatedAt = null;
    this.timer = null;
    this.open = new Set(); // cabin ids whose details are shown
  }

  start() {
    initLanguage();
    applyI18n(document);
    bindText($("lang-toggle"), "lang.toggle");
    $("lang-toggle").addEventListener("click", () => setLanguage(getLanguage() === "fr" ? "en" : "fr"));
    onLanguageChange(() => {
      bindText($("lang-toggle"), "lang.toggle");
      this.render();
    });
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitLogin();
    });
    $("logout").addEventListener("click", () => this.signOut());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.me) this.refresh();
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
    if (me) this.enter(me);
    else this.showLogin();
  }

  showScreen(id) {
    for (const screen of ["login-screen", "refused-screen", "fleet-screen"]) $(screen).hidden = screen !== id;
    document.body.dataset.screen = id.replace("-screen", "");
  }

  // --- sign-in -------------------------------------------------------------------------------

  showLogin(key = null, args = undefined) {
    this.showScreen("login-screen");
    $("app-header-user").hidden = true;
    $("refresh-state").hidden = true;
    this.setLoginError(key, args);
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
      console.warn("fleet.logout_failed", error instanceof ApiError ? error.status : error.name);
    }
    this.showLogin();
  }

  enter(me) {
    this.me = me;
    $("app-header-user").hidden = false;
    $("operator-name").textContent = me.operator?.display_name ?? me.agent?.display_name
      ?? me.doctor?.display_name ?? me.username;
    if (me.role !== "operator") {
      this.showScreen("refused-screen");
      return;
    }
    this.showScreen("fleet-screen");
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  leave() {
    clearInterval(this.timer);
    this.timer = null;
    this.me = null;
    this.fleet = null;
    this.open.clear();
    replaceChildren($("fleet-rows"));
  }

  // --- data ----------------------------------------------------------------------------------

  async refresh() {
    try {
      this.fleet = await fetchFleet();
      this.updatedAt = new Date();
      $("fleet-error").hidden = true;
    } catch (error) {
      const status = error instanceof ApiError ? error.status : 0;
      if (status === 401) {
        this.leave();
        this.showLogin("session.expired");
        return;
      }
      if (status === 403) {
        this.leave();
        this.showScreen("refused-screen");
        return;
      }
      bindText($("fleet-error"), "fleet.error", {
        status: status || "réseau/network",
        time: this.updatedAt ? formatClock(this.updatedAt) : "—",
      });
      $("fleet-error").hidden = false;
    }
    this.render();
  }

  render() {
    const state = $("refresh-state");
    if (!this.me || this.me.role !== "operator") return;
    state.hidden = this.updatedAt === null;
    if (this.updatedAt) {
      const stale = Date.now() - this.updatedAt.getTime() > REFRESH_MS * 3;
      state.dataset.state = stale ? "stale" : "fresh";
      bindText(state, stale ? "refresh.stale" : "refresh.at", { time: formatClock(this.updatedAt) });
    }
    if (!this.fleet) return;
    const cabins = this.fleet.cabins;
    const online = cabins.filter((c) => c.state === "online").length;
    const offline = cabins.filter((c) => c.state === "offline").length;
    const problems = cabins.filter((c) => c.problems.some((p) => BAD.has(p) || p === "battery_low")).length;
    bindText($("fleet-counts"), "fleet.counts", { total: cabins.length, online, offline, problems });
    bindText($("fleet-rule"), "fleet.rule", { min: formatNumber(this.fleet.offline_after_min, 1) });
    $("fleet-empty").hidden = cabins.length > 0;
    const rows = [];
    for (const cabin of cabins) {
      rows.push(this.row(cabin));
      if (this.open.has(cabin.cabin_id)) rows.push(this.detailRow(cabin));
    }
    const focused = document.activeElement?.dataset?.toggle;
    replaceChildren($("fleet-rows"), ...rows);
    if (focused) document.querySelector(`[data-toggle="${CSS.escape(focused)}"]`)?.focus();
  }

  toggle(cabinId) {
    if (this.open.has(cabinId)) this.open.delete(cabinId);
    else this.open.add(cabinId);
    this.render();
  }

  // --- one cabin ------------------------------------------------------------------------------

  row(cabin) {
    const tz = cabin.timezone;
    const bad = cabin.problems.some((p) => BAD.has(p));
    const warn = !bad && cabin.problems.length > 0 && !(cabin.problems.length === 1 && cabin.problems[0] === "never_seen");
    const expanded = this.open.has(cabin.cabin_id);
    return h("tr", {
      class: "cabin-row",
      data: { testid: "cabin-row", cabinId: cabin.cabin_id, state: cabin.state, problem: bad ? "bad" : warn ? "warn" : "none" },
    },
    h("th", { attrs: { scope: "row" } }, cabin.name, h("span", { class: "cabin-id", text: cabin.cabin_id })),
    h("td", {},
      h("span", { class: `pill ${cabin.state}`, i18n: `state.${cabin.state}`, data: { testid: "cabin-state" } }),
      cabin.last_seen_at ? h("div", { class: "small muted", i18n: "state.seen", args: { time: formatIn(cabin.last_seen_at, tz) } }) : null,
      cabin.unavailable ? h("div", { class: "pill unavailable", i18n: "state.unavailable", data: { testid: "cabin-unavailable" } }) : null),
    h("td", { text: cabin.software_version ?? t("detail.unknown"), data: { testid: "cabin-version" } }),
    h("td", { data: { testid: "cabin-selftest" } }, ...this.selftestCell(cabin)),
    h("td", {}, this.devicesCell(cabin)),
    h("td", {}, ...this.printerCell(cabin)),
    h("td", { data: { testid: "cabin-alerts" } }, this.alertsCell(cabin)),
    h("td", {},
      h("div", { i18n: "consult.today", args: { n: cabin.consultations_today } }),
      h("div", { class: "small muted", i18n: "consult.week", args: { n: cabin.consultations_week } })),
    h("td", { class: "small" }, this.qualityShort(cabin)),
    h("td", {},
      h("button", {
        class: "button",
        attrs: { type: "button", "aria-expanded": expanded ? "true" : "false", "aria-controls": `detail-${cabin.cabin_id}` },
        data: { toggle: cabin.cabin_id, testid: "cabin-toggle" },
        ariaLabel: ["details.show", { cabin: cabin.name }],
        text: expanded ? "▲" : "▼",
        on: { click: () => this.toggle(cabin.cabin_id) },
      })));
  }

  selftestCell(cabin) {
    const test = cabin.selftest;
    if (!test) return [h("span", { class: "muted", i18n: "selftest.none" })];
    const failed = test.problems.filter((p) => p.outcome === "failed");
    const warnings = test.problems.filter((p) => p.outcome === "warning");
    const head = failed.length
      ? h("span", { class: "bad", i18n: "selftest.failed", args: { n: failed.length } })
      : h("span", { class: "good", i18n: "selftest.passed", args: { passed: test.passed, checks: test.checks } });
    return [
      head,
      warnings.length && !failed.length ? h("div", { class: "warn small", i18n: "selftest.warnings", args: { n: warnings.length } }) : null,
      failed.length ? h("div", { class: "small bad", text: failed.map((p) => checkName(p)).join(", ") }) : null,
      test.blocking ? h("div", { class: "small bad", i18n: "selftest.blocking" }) : null,
      h("div", { class: "small muted", i18n: "selftest.when", args: { trigger: t(`trigger.${test.trigger}`), time: formatIn(test.finished_at, cabin.timezone) } }),
    ];
  }

  devicesCell(cabin) {
    if (!cabin.instruments.length) return h("span", { class: "muted", i18n: "devices.none" });
    return h("ul", { class: "plain-list small" }, ...cabin.instruments.map((d) => deviceLine(d)));
  }

  printerCell(cabin) {
    const paperClass = { out: "bad", low: "warn", ok: "good" }[cabin.paper] ?? "muted";
    return [
      h("div", { class: paperClass, i18n: `paper.${cabin.paper}`, data: { testid: "cabin-paper" } }),
      cabin.printer_problem ? h("div", { class: "small bad", i18n: `printer.${cabin.printer_problem}` }) : null,
    ];
  }

  alertsCell(cabin) {
    if (!cabin.alerts.length) return h("span", { class: "muted", i18n: "alerts.none" });
    return h("div", {},
      h("span", { class: "bad", i18n: "alerts.count", args: { n: cabin.alerts.length } }),
      h("ul", { class: "plain-list small" }, ...cabin.alerts.slice(0, 3).map((a) => h("li", { text: kindName(a.kind) }))));
  }

  qualityShort(cabin) {
    const last = cabin.quality.last;
    if (!last) return h("span", { class: "muted", i18n: "quality.none" });
    return h("div", { data: { testid: "cabin-quality" } }, sampleText(last));
  }

  detailRow(cabin) {
    const tz = cabin.timezone;
    const test = cabin.selftest;
    const general = h("section", {},
      h("h3", { i18n: "detail.general" }),
      h("dl", {},
        h("dt", { i18n: "detail.version" }), h("dd", { text: cabin.software_version ?? t("detail.unknown") }),
        h("dt", { i18n: "detail.last_seen" }), h("dd", { text: formatIn(cabin.last_seen_at, tz) }),
        h("dt", { i18n: "detail.status_at" }), h("dd", { text: formatIn(cabin.status_received_at, tz) }),
        h("dt", { i18n: "detail.disk" }),
        h("dd", cabin.disk_free_mb === null ? { text: t("detail.unknown") } : { i18n: "detail.disk_mb", args: { mb: formatNumber(cabin.disk_free_mb) } }),
        cabin.hub_unreachable_since ? h("dt", { i18n: "detail.hub_unreachable" }) : null,
        cabin.hub_unreachable_since ? h("dd", { text: formatIn(cabin.hub_unreachable_since, tz) }) : null,
        h("dt", { i18n: "detail.timezone" }), h("dd", { text: tz }),
        h("dt", { i18n: "detail.consultations" }),
        h("dd", { text: `${t("consult.today", { n: cabin.consultations_today })} · ${t("consult.week", { n: cabin.consultations_week })}` })),
      cabin.unavailable ? h("p", { class: "small bad", i18n: "detail.bookings_kept" }) : null);
    const selftest = h("section", { data: { testid: "detail-selftest" } },
      h("h3", { i18n: "detail.selftest" }),
      !test ? h("p", { class: "muted", i18n: "selftest.none" }) : h("div", {},
        h("p", { class: "small muted", text: `${t("detail.report", { id: test.report_id })} · ${t(`trigger.${test.trigger}`)} · ${formatIn(test.finished_at, tz)}` }),
        test.problems.length === 0
          ? h("p", { class: "good", i18n: "detail.no_problem" })
          : h("ul", { class: "plain-list" }, ...test.problems.map((p) => h("li", { class: p.outcome === "failed" ? "check-failed" : "check-warning" },
            h("strong", { text: `${checkName(p)} — ${t(`outcome.${p.outcome}`)}` }),
            p.detail ? h("div", { class: "small", text: p.detail }) : null)))));
    const devices = h("section", {},
      h("h3", { i18n: "detail.devices" }),
      cabin.instruments.length
        ? h("ul", { class: "plain-list" }, ...cabin.instruments.map((d) => deviceLine(d, true)))
        : h("p", { class: "muted", i18n: "devices.none" }));
    const printer = h("section", {},
      h("h3", { i18n: "detail.printer" }),
      ...this.printerCell(cabin));
    const alerts = h("section", {},
      h("h3", { i18n: "detail.alerts" }),
      cabin.alerts.length
        ? h("ul", { class: "plain-list" }, ...cabin.alerts.map((a) => h("li", {},
          h("strong", { class: a.severity === "critical" ? "bad" : "warn", text: kindName(a.kind) }),
          ` · ${formatIn(a.raised_at, tz)}`,
          a.repeat_count > 1 ? ` (×${a.repeat_count})` : "",
          a.detail ? h("div", { class: "small", text: a.detail }) : null)))
        : h("p", { class: "muted", i18n: "alerts.none" }));
    const q = cabin.quality;
    const quality = h("section", {},
      h("h3", { i18n: "detail.quality" }),
      q.last
        ? h("div", {},
          h("p", { class: "small muted", i18n: "quality.last", args: { time: formatIn(q.last.sent_at, tz) } }),
          h("p", { text: sampleText(q.last) }),
          h("p", { class: "small muted", i18n: "quality.median", args: { calls: q.calls_this_week } }),
          h("p", { text: sampleText({
            sent_kbps: q.median_sent_kbps, received_kbps: q.median_received_kbps,
            loss_percent: q.median_loss_percent, round_trip_ms: q.median_round_trip_ms,
          }) }))
        : h("p", { class: "muted", i18n: "quality.none" }));
    return h("tr", { class: "detail-row", id: `detail-${cabin.cabin_id}`, data: { testid: "cabin-detail", cabinId: cabin.cabin_id } },
      h("td", { attrs: { colspan: "10" } },
        h("div", { class: "detail-grid" }, general, selftest, devices, printer, alerts, quality)));
  }
}

function checkName(problem) {
  const name = t(`check.${problem.check}`);
  return problem.subject ? `${name} ${problem.subject}` : name;
}

function kindName(kind) {
  const key = `kind.${kind}`;
  const text = t(key);
  return text === key ? kind : text;
}

function deviceLine(device, long = false) {
  const parts = [];
  if (!device.connected) parts.push(h("span", { class: "bad", text: ` · ${t("device.disconnected")}` }));
  if (device.battery_percent !== null && device.battery_percent !== undefined) {
    const low = device.battery_percent <= LOW_BATTERY;
    parts.push(h("span", {
      class: low ? "bad" : "muted",
      text: ` · ${t(low ? "device.battery_low" : "device.battery", { pct: device.battery_percent })}`,
    }));
  }
  return h("li", { data: { testid: "device" } },
    h("span", { text: long ? `${device.instrument_id} (${device.kind})` : device.instrument_id }), ...parts);
}

function sampleText(sample) {
  const rtt = sample.round_trip_ms === null || sample.round_trip_ms === undefined
    ? t("quality.rtt_unknown")
    : t("quality.rtt", { ms: formatNumber(sample.round_trip_ms) });
  return t("quality.sample", {
    sent: formatNumber(sample.sent_kbps ?? 0),
    received: formatNumber(sample.received_kbps ?? 0),
    loss: formatNumber(sample.loss_percent ?? 0, 1),
    rtt,
  });
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

new FleetApp().start();
