// The doctor's agenda (`GET /api/agenda`): today's appointments of the cabins they are on the rota
// for, or the week's, each with where it stands (booked, checked in, in the cabin, seen, no-show),
// the late ones marked, and the no-shows counted. Times are the cabin's (the hub gives them).
// A patient the doctor saw can be flagged "to follow up" from here (`FollowUpFlag`).

import { ApiError } from "./api.js";
import { clear, h } from "./dom.js";
import { bindText, getLanguage, t } from "./i18n.js";

/** The console's JSON API beyond api.js: same origin, session cookie, CSRF header. */
export async function apiRequest(method, path, { body, csrf } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
    redirect: "error",
  });
  const type = response.headers.get("Content-Type") || "";
  const payload = response.status !== 204 && type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

const STATUS_SYMBOL = { booked: "○", checked_in: "◐", in_cabin: "●", seen: "✓", noshow: "✗" };

function locale() {
  return getLanguage() === "fr" ? "fr-FR" : "en-GB";
}

/** "mercredi 9 décembre" from "2026-12-09" (a calendar day, no time zone involved). */
export function formatDay(day, { weekday = "long", year = false } = {}) {
  return new Intl.DateTimeFormat(locale(), {
    weekday, day: "numeric", month: "long", ...(year ? { year: "numeric" } : {}), timeZone: "UTC",
  }).format(new Date(`${day}T00:00:00Z`));
}

function addDays(day, n) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + n);
  return date.toISOString().slice(0, 10);
}

export function statusBadge(status) {
  return h("span", { class: `agenda-status status-${status}`, data: { testid: "agenda-status", status } },
    h("span", { attrs: { "aria-hidden": "true" }, text: `${STATUS_SYMBOL[status] ?? ""} ` }),
    h("span", { i18n: `agenda.status.${status}` }));
}

function lateMark(entry) {
  if (!entry.late) return null;
  const key = entry.status === "booked" ? "agenda.late.waiting" : "agenda.late.arrived";
  return h("span", { class: "agenda-late", data: { testid: "agenda-late" }, i18n: key, args: { n: entry.late_min } });
}

export class AgendaView {
  /** @param {{csrf: string, onFlagged?: () => void}} options */
  constructor({ csrf, onFlagged }) {
    this.csrf = csrf;
    this.onFlagged = onFlagged ?? (() => {});
    this.span = "day";
    this.day = null; // null: today (the hub's)
    this.data = null;
    this.status = null;
    this.flagged = new Set(); // consultation ids flagged from this page
    this.title = h("h2", { id: "agenda-title", i18n: "agenda.title", attrs: { tabindex: "-1" } });
    this.dayButton = h("button", {
      class: "button secondary", data: { testid: "agenda-day" }, i18n: "agenda.today",
      attrs: { type: "button", "aria-pressed": "true" }, on: { click: () => this.show("day", null) },
    });
    this.weekButton = h("button", {
      class: "button secondary", data: { testid: "agenda-week" }, i18n: "agenda.week",
      attrs: { type: "button", "aria-pressed": "false" }, on: { click: () => this.show("week", this.day) },
    });
    this.previous = h("button", { class: "button link", data: { testid: "agenda-previous" }, attrs: { type: "button" }, on: { click: () => this.step(-1) } }, "‹ ", h("span", {}));
    this.next = h("button", { class: "button link", data: { testid: "agenda-next" }, attrs: { type: "button" }, on: { click: () => this.step(1) } }, h("span", {}), " ›");
    this.heading = h("p", { class: "agenda-heading", data: { testid: "agenda-heading" }, attrs: { "aria-live": "polite" } });
    this.counts = h("p", { class: "agenda-counts muted", data: { testid: "agenda-counts" } });
    this.noshows = h("p", { class: "agenda-noshows", data: { testid: "agenda-noshows" } });
    this.body = h("div", { class: "agenda-body", data: { testid: "agenda-body" } });
    this.root = h("section", { id: "agenda", class: "panel agenda-panel", attrs: { "aria-labelledby": "agenda-title" } },
      h("div", { class: "panel-head agenda-head" }, this.title,
        h("div", { class: "agenda-switch", attrs: { role: "group" }, ariaLabel: ["agenda.title"] }, this.dayButton, this.weekButton),
        this.previous, this.next),
      this.heading, this.counts, this.noshows, this.body);
  }

  async show(span, day) {
    this.span = span;
    this.day = day;
    this.dayButton.setAttribute("aria-pressed", String(span === "day"));
    this.weekButton.setAttribute("aria-pressed", String(span === "week"));
    await this.load();
  }

  step(direction) {
    const from = this.data?.first_day ?? this.data?.today;
    if (!from) return;
    this.show(this.span, addDays(from, direction * (this.span === "week" ? 7 : 1)));
  }

  async load() {
    this.status = "loading";
    this.render();
    const query = new URLSearchParams({ span: this.span });
    if (this.day) query.set("day", this.day);
    try {
      this.data = await apiRequest("GET", `/api/agenda?${query}`);
      this.status = null;
    } catch (error) {
      this.status = { error: error instanceof ApiError ? error.status : "—" };
    }
    this.render();
  }

  render() {
    bindText(this.previous.querySelector("span"), this.span === "week" ? "agenda.previous.week" : "agenda.previous.day");
    bindText(this.next.querySelector("span"), this.span === "week" ? "agenda.next.week" : "agenda.next.day");
    clear(this.body);
    this.root.dataset.span = this.span;
    if (this.status === "loading" && !this.data) {
      this.body.append(h("p", { class: "muted", i18n: "agenda.loading" }));
      return;
    }
    if (this.status?.error !== undefined) {
      this.body.append(h("p", { class: "error-text", attrs: { role: "alert" }, i18n: "agenda.error", args: { status: this.status.error } }));
      return;
    }
    if (!this.data) return;
    const data = this.data;
    this.root.dataset.loaded = this.status === "loading" ? "false" : "true";
    if (this.span === "week") {
      this.heading.textContent = t("agenda.week.range", {
        first: formatDay(data.first_day, { weekday: undefined }), last: formatDay(data.last_day, { weekday: undefined, year: true }),
      });
    } else {
      this.heading.textContent = formatDay(data.first_day, { year: true });
    }
    const c = data.counts;
    const total = c.booked + c.checked_in + c.in_cabin + c.seen + c.noshow;
    bindText(this.counts, "agenda.counts", { total, ...c });
    bindText(this.noshows, this.span === "week" ? "agenda.noshows.week" : "agenda.noshows.day", { n: c.noshow });
    this.noshows.dataset.count = String(c.noshow);
    if (this.span === "week") this.body.append(this.renderWeek(data));
    else this.body.append(this.renderDay(data.days[0], data));
  }

  renderDay(day, data) {
    if (!day || day.entries.length === 0) {
      return h("p", { class: "agenda-empty muted", i18n: data.shifts.length ? "agenda.empty" : "agenda.noshift" });
    }
    const table = h("table", { class: "agenda-table", data: { testid: "agenda-table" } },
      h("caption", { class: "visually-hidden", text: formatDay(day.day) }),
      h("thead", {}, h("tr", {},
        ...["time", "patient", "cabin", "status", "actions"].map((col) => h("th", { attrs: { scope: "col" }, i18n: `agenda.col.${col}` })))));
    const body = h("tbody", {});
    for (const entry of day.entries) body.append(this.renderRow(entry));
    table.append(body);
    return table;
  }

  renderRow(entry) {
    const row = h("tr", { class: `agenda-row status-row-${entry.status}`, data: { testid: "agenda-entry", appointment: entry.appointment_id, status: entry.status, late: String(entry.late) } });
    row.append(
      h("td", { class: "agenda-time" }, h("time", { attrs: { datetime: entry.starts_at }, text: entry.local_time })),
      h("td", { class: "agenda-patient" },
        h("strong", { class: "family-name", text: entry.family_name.toUpperCase() }), " ", h("span", { text: entry.given_names }),
        h("span", { class: "muted", text: ` · ${t("age.years", { n: entry.age_years })}` }),
        entry.reason ? h("span", { class: "agenda-reason muted", i18n: "agenda.reason", args: { reason: entry.reason } }) : null),
      h("td", { class: "agenda-cabin", text: entry.town || entry.cabin_id }),
      h("td", {}, statusBadge(entry.status), lateMark(entry)),
      h("td", {}, this.flagCell(entry)),
    );
    return row;
  }

  flagCell(entry) {
    if (!entry.consultation_id || !entry.taken_by_me) return null;
    return new FollowUpFlag({
      consultationId: entry.consultation_id,
      csrf: this.csrf,
      flagged: entry.followup_open || this.flagged.has(entry.consultation_id),
      onFlagged: () => { this.flagged.add(entry.consultation_id); this.onFlagged(); },
    }).root;
  }

  renderWeek(data) {
    const grid = h("div", { class: "agenda-week", data: { testid: "agenda-week-grid" } });
    for (const day of data.days) {
      const column = h("section", { class: `agenda-week-day${day.day === data.today ? " today" : ""}`, data: { testid: "agenda-week-day", day: day.day },
        attrs: { "aria-label": formatDay(day.day) } },
      h("h3", { text: formatDay(day.day, { weekday: "short" }) }));
      if (day.entries.length === 0) column.append(h("p", { class: "muted", i18n: "agenda.day.none" }));
      const list = h("ul", { class: "plain-list" });
      for (const entry of day.entries) {
        list.append(h("li", { class: `agenda-week-entry status-row-${entry.status}`, data: { testid: "agenda-entry", status: entry.status } },
          h("time", { class: "agenda-time", attrs: { datetime: entry.starts_at }, text: entry.local_time }), " ",
          h("span", { class: "family-name", text: entry.family_name.toUpperCase() }), " ", h("span", { text: entry.given_names }),
          h("br", {}), statusBadge(entry.status), lateMark(entry)));
      }
      column.append(list);
      grid.append(column);
    }
    return grid;
  }

  relabel() {
    this.render();
  }

  dispose() {
    this.data = null;
    this.root.remove();
  }
}

/** "Marquer à suivre" with a note, for a consultation the doctor took. */
export class FollowUpFlag {
  constructor({ consultationId, csrf, flagged = false, onFlagged = () => {} }) {
    this.consultationId = consultationId;
    this.csrf = csrf;
    this.onFlagged = onFlagged;
    this.root = h("div", { class: "followup-flag", data: { testid: "followup-flag", consultation: consultationId } });
    this.render(flagged ? "done" : "idle");
  }

  /** Ask the hub whether the consultation is flagged already (the call screen). */
  async refresh() {
    try {
      const found = await apiRequest("GET", `/api/consultations/${encodeURIComponent(this.consultationId)}/followups`);
      if (found.followups.some((view) => !view.followup.cleared_at) && this.root.dataset.state === "idle") this.render("done");
    } catch (error) {
      console.warn("console.followups_unavailable", error instanceof ApiError ? error.status : error.name);
    }
  }

  render(state, errorStatus) {
    clear(this.root);
    this.root.dataset.state = state;
    if (state === "done") {
      this.root.append(h("span", { class: "followup-done", data: { testid: "followup-done" }, i18n: "followup.flagged" }));
      return;
    }
    if (state === "idle") {
      this.root.append(h("button", { class: "button link", data: { testid: "followup-open" }, attrs: { type: "button" }, i18n: "followup.flag",
        on: { click: () => { this.render("editing"); this.root.querySelector("textarea")?.focus(); } } }));
      return;
    }
    const id = `followup-note-${this.consultationId}`;
    const note = h("textarea", { id, class: "followup-note", data: { testid: "followup-note" }, attrs: { rows: 2, maxlength: 2000 } });
    const form = h("form", { class: "followup-form", on: { submit: (event) => { event.preventDefault(); this.submit(note.value); } } },
      h("label", { attrs: { for: id }, i18n: "followup.flag.label" }), note,
      errorStatus !== undefined ? h("p", { class: "error-text", attrs: { role: "alert" }, i18n: "followup.flag.failed", args: { status: errorStatus } }) : null,
      h("div", { class: "dialog-actions" },
        h("button", { class: "button primary", data: { testid: "followup-submit" }, attrs: { type: "submit" }, i18n: "followup.flag.submit" }),
        h("button", { class: "button", attrs: { type: "button" }, i18n: "followup.flag.cancel", on: { click: () => this.render("idle") } })));
    this.root.append(form);
  }

  async submit(note) {
    try {
      await apiRequest("POST", `/api/consultations/${encodeURIComponent(this.consultationId)}/followups`, { csrf: this.csrf, body: { note } });
      this.render("done");
      this.onFlagged();
    } catch (error) {
      this.render("editing", error instanceof ApiError ? error.status : "—");
    }
  }
}
