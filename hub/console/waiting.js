// The waiting room: every waiting patient in the hub's order (a booked patient at their slot
// time, walk-ins between them by arrival), the wait ticking from `joined_at`, "Prendre en charge"
// for those nobody has taken yet (disabled while their cabin is offline), the name of the doctor
// who took the others, and, for a booked patient, their slot and the doctor they booked with
// ("Rendez-vous avec vous à 10:15": the hub offers them to that doctor first).

import { clear, h } from "./dom.js";
import { bindText, formatDuration, formatTime, t } from "./i18n.js";
import { flagElement, vitalSummary } from "./vitals.js";

export class WaitingRoomView {
  /**
   * @param {object} options
   * @param {(consultationId: string) => void} options.onAccept
   * @param {() => number} options.serverNow the hub's clock, in ms since the epoch
   * @param {() => string} [options.me] the signed-in doctor's username
   */
  constructor({ onAccept, serverNow, me = () => "" }) {
    this.onAccept = onAccept;
    this.serverNow = serverNow;
    this.me = me;
    this.entries = [];
    this.pendingId = null;
    this.list = h("ul", { id: "waiting-list", class: "waiting-list", attrs: { "aria-labelledby": "waiting-title" } });
    this.count = h("p", { id: "waiting-count", class: "muted", attrs: { "aria-live": "polite" } });
    this.notice = h("p", { id: "waiting-notice", class: "notice", data: { testid: "waiting-notice" }, attrs: { role: "status", "aria-live": "polite" } });
    this.root = h(
      "section",
      { id: "waiting-room", class: "panel waiting-panel", attrs: { "aria-labelledby": "waiting-title" } },
      h("div", { class: "panel-head" }, h("h2", { id: "waiting-title", i18n: "waiting.title", attrs: { tabindex: "-1" } }), this.count),
      this.notice,
      this.list,
    );
    this.timer = setInterval(() => this.tick(), 1000);
    this.render();
  }

  update(entries) {
    const queued = (e) => Date.parse(e.appointment_at ?? e.joined_at);
    this.entries = [...entries].sort(
      (a, b) => queued(a) - queued(b) || Date.parse(a.joined_at) - Date.parse(b.joined_at),
    );
    if (this.pendingId && !this.entries.some((e) => e.consultation_id === this.pendingId)) {
      this.pendingId = null;
    }
    this.render();
  }

  /** The notice for a take refused as a conflict: taken by another doctor, or booked with one. */
  conflictNotice(consultationId) {
    const entry = this.entries.find((e) => e.consultation_id === consultationId);
    const bookedElsewhere = entry?.booked_doctor && entry.booked_doctor !== this.me() && !entry.taken_by;
    return bookedElsewhere ? "waiting.booked.first" : "waiting.conflict";
  }

  /** The doctor clicked "Prendre en charge" on `consultationId` (null: no request pending). */
  setPending(consultationId) {
    this.pendingId = consultationId;
    this.render();
  }

  showNotice(key, args) {
    if (key === null) {
      this.notice.textContent = "";
      delete this.notice.dataset.i18n;
      delete this.notice.dataset.kind;
      return;
    }
    bindText(this.notice, key, args);
    this.notice.dataset.kind = key;
  }

  render() {
    const focusedId = document.activeElement?.closest?.("[data-testid=waiting-entry]")?.dataset.consultationId;
    clear(this.list);
    const waiting = this.entries.filter((e) => !e.taken_by).length;
    bindText(this.count, "waiting.count", { n: waiting });
    if (this.entries.length === 0) {
      this.list.append(h("li", { class: "waiting-empty muted", i18n: "waiting.empty" }));
      return;
    }
    for (const entry of this.entries) this.list.append(this.renderEntry(entry));
    if (focusedId) this.list.querySelector(`[data-consultation-id="${CSS.escape(focusedId)}"] button`)?.focus();
    this.tick();
  }

  /** "Rendez-vous avec vous à 10:15" (or with another doctor); nothing for a walk-in. */
  renderBooking(entry) {
    if (!entry.appointment_at) return "";
    const time = formatTime(new Date(entry.appointment_at), entry.appointment_timezone);
    const mine = entry.booked_doctor && entry.booked_doctor === this.me();
    let key = "waiting.booked";
    if (mine) key = "waiting.booked.you";
    else if (entry.booked_doctor) key = "waiting.booked.other";
    return h("p", {
      class: `entry-booked${mine ? " booked-mine" : ""}`,
      data: { testid: "entry-booked", mine: mine ? "true" : "false" },
      text: t(key, { time, doctor: entry.booked_doctor_name ?? entry.booked_doctor ?? "" }),
    });
  }

  renderEntry(entry) {
    const taken = Boolean(entry.taken_by);
    const online = entry.cabin_online !== false;
    const item = h("li", {
      class: `waiting-entry${taken ? " taken" : ""}${online ? "" : " cabin-offline"}`,
      data: {
        testid: "waiting-entry",
        consultationId: entry.consultation_id,
        taken: taken ? "true" : "false",
        cabinOnline: online ? "true" : "false",
      },
    });
    const age = entry.age_years != null ? t("age.years", { n: entry.age_years }) : t("age.unknown");
    item.append(
      h("div", { class: "entry-wait" },
        h("span", { class: "entry-wait-label", i18n: "waiting.wait" }),
        h("span", { class: "entry-wait-time", data: { joined: entry.joined_at, testid: "wait-time" } })),
      h("div", { class: "entry-main" },
        h("p", { class: "entry-who" },
          h("strong", { data: { testid: "entry-age" }, text: age }),
          " · ",
          h("span", { data: { testid: "entry-sex" }, text: t(`sex.${entry.sex}`) }),
          " · ",
          h("span", { data: { testid: "entry-language" }, text: t(`language.${entry.language}`) }),
          " · ",
          h("span", { class: "muted", text: `${t("waiting.cabin")} ${entry.cabin_id}` })),
        this.renderBooking(entry),
        entry.reason
          ? h("p", { class: "entry-reason", data: { testid: "entry-reason" }, text: entry.reason })
          : h("p", { class: "entry-reason muted", i18n: "waiting.reason.none" }),
        this.renderVitals(entry.vitals ?? [])),
    );
    const actions = h("div", { class: "entry-actions" });
    const offlineId = `offline-${entry.consultation_id}`;
    if (!online) {
      actions.append(h("p", { id: offlineId, class: "entry-offline", data: { testid: "entry-offline" }, text: t("waiting.offline") }));
    }
    if (taken) {
      const doctor = entry.taken_by_name ?? entry.taken_by;
      actions.append(h("p", { class: "entry-taken", data: { testid: "entry-taken" }, text: t("waiting.taken", { doctor }) }));
    } else {
      const pending = this.pendingId === entry.consultation_id;
      actions.append(h("button", {
        id: `accept-${entry.consultation_id}`,
        class: "button primary",
        data: { testid: "accept-button" },
        attrs: {
          type: "button",
          disabled: this.pendingId !== null || !online,
          "aria-busy": pending ? "true" : null,
          "aria-describedby": online ? null : offlineId,
        },
        text: t(pending ? "waiting.accepting" : "waiting.accept"),
        on: { click: () => this.onAccept(entry.consultation_id) },
      }));
    }
    item.append(actions);
    return item;
  }

  renderVitals(vitals) {
    const box = h("p", { class: "entry-vitals", data: { testid: "entry-vitals" } },
      h("span", { class: "muted", text: `${t("waiting.vitals")} ` }));
    if (vitals.length === 0) {
      box.append(h("span", { class: "muted", text: t("waiting.vitals.none") }));
      return box;
    }
    const parts = vitals.flatMap((vital) => vitalSummary(vital));
    parts.forEach((part, index) => {
      if (index > 0) box.append(h("span", { class: "chip-sep", attrs: { "aria-hidden": "true" }, text: " · " }));
      box.append(h("span", { class: `vital-chip flag-line-${part.flag}` }, part.text, flagElement(part.flag, { quiet: true })));
    });
    return box;
  }

  tick() {
    const now = this.serverNow();
    for (const element of this.list.querySelectorAll("[data-joined]")) {
      element.textContent = formatDuration((now - Date.parse(element.dataset.joined)) / 1000);
    }
  }

  dispose() {
    clearInterval(this.timer);
    this.entries = [];
    this.root.remove();
  }
}
