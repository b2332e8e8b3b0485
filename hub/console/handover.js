// Transmissions: the weekly handover between doctors (I-PASS-like: a summary, then patients to
// follow, results pending and actions to do, each linked to its consultation), and the patients
// flagged "to follow up".
// - Unread handovers addressed to this doctor come first, with "J'ai lu" (recorded: who, when)
//   and "Plus tard": reading never blocks work (a mandatory "accept handover" blocked shifts
//   elsewhere); they stay here, counted on the tab's badge.
// - A linked consultation opens the patient's record (the hub audits the reading).
// - The end-of-week form: summary, items, recipients (the next doctors on the rota by default).

import { ApiError } from "./api.js";
import { apiRequest, formatDay } from "./agenda.js";
import { clear, h } from "./dom.js";
import { bindText, formatDateTime, t } from "./i18n.js";
import { HistoryPanel } from "./history.js";

const KINDS = ["patient", "result", "action"];

/** A HistoryPanel filled from another address (a handover's or a flag's link). */
class LinkedHistory extends HistoryPanel {
  constructor(path, openId) {
    super(openId);
    this.path = path;
    this.openIds.add(openId);
    this.root.classList.add("linked-history");
    this.root.dataset.testid = "linked-history";
    bindText(this.root.querySelector("h2"), "handover.history.title");
  }

  async load() {
    this.status = "loading";
    this.render();
    try {
      const history = await apiRequest("GET", this.path);
      if (this.disposed) return;
      this.entries = [...(history?.entries ?? [])].sort((a, b) => Date.parse(b.started_at) - Date.parse(a.started_at));
      this.status = null;
    } catch (error) {
      if (this.disposed) return;
      this.status = { error: error instanceof ApiError ? error.status : "—" };
    }
    this.render();
  }
}

export class HandoverScreen {
  /**
   * @param {{me: object, onUnread: (n: number) => void, onLater: () => void}} options
   */
  constructor({ me, onUnread, onLater }) {
    this.me = me;
    this.onUnread = onUnread;
    this.onLater = onLater;
    this.inbox = null;
    this.followups = [];
    this.status = null;
    this.form = null; // {options, editing: handover|null, items: [...], message}
    this.history = null; // {key, panel}
    this.clearing = null; // followup id whose clear form is open
    this.title = h("h2", { id: "handover-title", i18n: "handover.title", attrs: { tabindex: "-1" } });
    this.body = h("div", { class: "handover-body" });
    this.root = h("section", { id: "handover", class: "handover-screen", attrs: { "aria-labelledby": "handover-title" } },
      h("div", { class: "panel-head" }, this.title), this.body);
  }

  get unread() {
    return (this.inbox?.handovers ?? []).filter((v) => !v.mine && !v.read_at);
  }

  async load() {
    if (!this.inbox) this.status = "loading";
    this.render();
    try {
      const [inbox, followups] = await Promise.all([
        apiRequest("GET", "/api/handovers"),
        apiRequest("GET", "/api/followups"),
      ]);
      this.inbox = inbox;
      this.followups = followups.followups;
      this.status = null;
    } catch (error) {
      this.status = { error: error instanceof ApiError ? error.status : "—" };
    }
    this.onUnread(this.unread.length);
    this.render();
    return this.unread.length;
  }

  render() {
    clear(this.body);
    if (this.status === "loading") {
      this.body.append(h("p", { class: "muted", i18n: "handover.loading" }));
      return;
    }
    if (this.status?.error !== undefined) {
      this.body.append(h("p", { class: "error-text", attrs: { role: "alert" }, i18n: "handover.error", args: { status: this.status.error } }));
      return;
    }
    if (this.form) {
      this.body.append(this.renderForm());
      return;
    }
    const unread = this.unread;
    if (unread.length) {
      const box = h("section", { class: "panel handover-unread", data: { testid: "handover-unread" }, attrs: { "aria-labelledby": "handover-unread-title" } },
        h("h3", { id: "handover-unread-title", i18n: "handover.unread.title" }),
        h("p", { class: "muted", i18n: "handover.unread.hint" }));
      for (const view of unread) box.append(this.renderHandover(view, { unread: true }));
      this.body.append(box);
    }
    this.body.append(this.renderFollowups());
    const received = (this.inbox?.handovers ?? []).filter((v) => !v.mine && v.read_at);
    const mine = (this.inbox?.handovers ?? []).filter((v) => v.mine);
    const receivedBox = h("section", { class: "panel", data: { testid: "handover-received" } }, h("h3", { i18n: "handover.received" }));
    if (received.length === 0 && unread.length === 0) receivedBox.append(h("p", { class: "muted", i18n: "handover.received.empty" }));
    for (const view of received) receivedBox.append(this.renderHandover(view, {}));
    this.body.append(receivedBox);
    const mineBox = h("section", { class: "panel", data: { testid: "handover-mine" } },
      h("div", { class: "panel-head" }, h("h3", { i18n: "handover.mine" }),
        h("button", { class: "button primary", data: { testid: "handover-write" }, attrs: { type: "button" }, i18n: "handover.write", on: { click: () => this.openForm(null) } })));
    if (mine.length === 0) mineBox.append(h("p", { class: "muted", i18n: "handover.mine.empty" }));
    for (const view of mine) mineBox.append(this.renderHandover(view, { mine: true }));
    this.body.append(mineBox);
  }

  renderHandover(view, { unread = false, mine = false }) {
    const handover = view.handover;
    const recipients = view.recipients.length ? view.recipients.map((p) => p.display_name).join(", ") : t("handover.to.next");
    const card = h("article", { class: `handover-card${unread ? " unread" : ""}`, data: { testid: "handover-card", handover: handover.handover_id, read: String(Boolean(view.read_at)) } },
      h("p", { class: "handover-meta" },
        h("strong", { i18n: "handover.from", args: { author: view.author.display_name, date: formatDateTime(new Date(handover.written_at)) } }),
        h("span", { class: "muted", i18n: "handover.to", args: { who: recipients } }),
        h("span", { class: "muted", i18n: "handover.cabins", args: { cabins: handover.cabin_ids.map((c) => view.towns[c] ?? c).join(", ") } })),
    );
    if (handover.summary) {
      card.append(h("h4", { i18n: "handover.summary" }), h("p", { class: "handover-summary", data: { testid: "handover-summary" }, text: handover.summary }));
    }
    for (const kind of KINDS) {
      const items = handover.items.filter((item) => item.kind === kind);
      if (items.length === 0) continue;
      const list = h("ul", { class: `handover-items kind-${kind}` });
      for (const item of items) list.append(this.renderItem(view, item));
      card.append(h("h4", { i18n: `handover.kind.${kind}` }), list);
    }
    if (mine) {
      const who = view.reads.map((r) => `${r.reader.display_name} (${formatDateTime(new Date(r.read_at))})`).join(", ");
      card.append(h("p", { class: "handover-reads", data: { testid: "handover-reads" } },
        who ? h("span", { i18n: "handover.read.by", args: { who } }) : h("span", { class: "muted", i18n: "handover.read.none" }), " ",
        h("button", { class: "button link", attrs: { type: "button" }, data: { testid: "handover-edit" }, i18n: "handover.edit", on: { click: () => this.openForm(view) } })));
    } else if (view.read_at) {
      card.append(h("p", { class: "handover-read-at", data: { testid: "handover-read-at" }, i18n: "handover.read.at", args: { date: formatDateTime(new Date(view.read_at)) } }));
    }
    if (unread) {
      card.append(h("div", { class: "dialog-actions" },
        h("button", { class: "button primary", data: { testid: "handover-ack" }, attrs: { type: "button" }, i18n: "handover.ack", on: { click: () => this.acknowledge(handover.handover_id) } }),
        h("button", { class: "button", data: { testid: "handover-later" }, attrs: { type: "button" }, i18n: "handover.later", on: { click: () => this.onLater() } })));
    }
    return card;
  }

  renderItem(view, item) {
    const handoverId = view.handover.handover_id;
    const li = h("li", { data: { testid: "handover-item", kind: item.kind } }, h("span", { class: "handover-item-text", text: item.text }));
    if (item.due_on) li.append(" ", h("span", { class: "handover-due", i18n: "handover.due", args: { date: formatDay(item.due_on, { weekday: undefined }) } }));
    if (item.consultation_id) {
      const key = `${handoverId}/${item.consultation_id}`;
      const open = this.history?.key === key;
      if (view.linked[item.consultation_id]) li.append(" — ", h("span", { class: "muted", text: view.linked[item.consultation_id] }));
      li.append(" ", h("button", {
        class: "button link", data: { testid: "handover-open" }, attrs: { type: "button", "aria-expanded": String(open) },
        i18n: open ? "handover.close" : "handover.open",
        on: { click: () => this.toggleHistory(key, `/api/handovers/${encodeURIComponent(handoverId)}/consultations/${encodeURIComponent(item.consultation_id)}/history`, item.consultation_id) },
      }));
      if (open) li.append(this.history.panel.root);
    }
    return li;
  }

  toggleHistory(key, path, consultationId) {
    if (this.history?.key === key) {
      this.history.panel.dispose();
      this.history = null;
      this.render();
      return;
    }
    this.history?.panel.dispose();
    const panel = new LinkedHistory(path, consultationId);
    this.history = { key, panel };
    this.render();
    panel.load();
  }

  async acknowledge(handoverId) {
    try {
      await apiRequest("POST", `/api/handovers/${encodeURIComponent(handoverId)}/read`, { csrf: this.me.csrf_token });
    } catch (error) {
      console.warn("console.handover_ack_failed", error instanceof ApiError ? error.status : error.name);
    }
    await this.load();
    this.title.focus();
  }

  // --- follow-ups ----------------------------------------------------------------------------

  renderFollowups() {
    const box = h("section", { class: "panel followups", data: { testid: "followups" }, attrs: { "aria-labelledby": "followups-title" } },
      h("h3", { id: "followups-title", i18n: "followup.title" }));
    if (this.followups.length === 0) {
      box.append(h("p", { class: "muted", i18n: "followup.empty" }));
      return box;
    }
    const list = h("ul", { class: "plain-list followup-list" });
    for (const view of this.followups) {
      const f = view.followup;
      const key = `followup/${f.followup_id}`;
      const open = this.history?.key === key;
      const age = view.age_years != null ? ` · ${t("age.years", { n: view.age_years })}` : "";
      const item = h("li", { class: "followup-entry", data: { testid: "followup-entry", followup: f.followup_id } },
        h("p", {}, h("strong", { class: "family-name", text: view.family_name.toUpperCase() }), " ", h("span", { text: view.given_names }), h("span", { class: "muted", text: age })),
        f.note ? h("p", { class: "followup-text", text: f.note }) : null,
        h("p", { class: "muted", i18n: "followup.by", args: { doctor: view.flagged_by.display_name, date: formatDateTime(new Date(f.flagged_at)) } }),
        view.consultation_at ? h("p", { class: "muted", i18n: "followup.seen", args: { date: formatDateTime(new Date(view.consultation_at)), reason: view.reason || "—" } }) : null,
        h("div", { class: "dialog-actions" },
          h("button", { class: "button link", data: { testid: "followup-history" }, attrs: { type: "button", "aria-expanded": String(open) }, i18n: open ? "handover.close" : "followup.history",
            on: { click: () => this.toggleHistory(key, `/api/followups/${encodeURIComponent(f.followup_id)}/history`, f.consultation_id) } }),
          h("button", { class: "button link", data: { testid: "followup-clear" }, attrs: { type: "button" }, i18n: "followup.clear",
            on: { click: () => { this.clearing = f.followup_id; this.render(); this.body.querySelector(".followup-clear-note")?.focus(); } } })),
      );
      if (this.clearing === f.followup_id) item.append(this.renderClearForm(f));
      if (open) item.append(this.history.panel.root);
      list.append(item);
    }
    box.append(list);
    return box;
  }

  renderClearForm(followup, message) {
    const id = `clear-note-${followup.followup_id}`;
    const note = h("textarea", { id, class: "followup-clear-note", data: { testid: "followup-clear-note" }, attrs: { rows: 2, maxlength: 2000, required: true } });
    const error = h("p", { class: "error-text", attrs: { role: "alert" } });
    if (message) bindText(error, ...message);
    return h("form", { class: "followup-form", attrs: { novalidate: true }, on: { submit: async (event) => {
      event.preventDefault();
      if (!note.value.trim()) { bindText(error, "followup.clear.needed"); note.focus(); return; }
      try {
        await apiRequest("POST", `/api/followups/${encodeURIComponent(followup.followup_id)}/clear`, { csrf: this.me.csrf_token, body: { note: note.value } });
        this.clearing = null;
        await this.load();
      } catch (failure) {
        bindText(error, "followup.clear.failed", { status: failure instanceof ApiError ? failure.status : "—" });
      }
    } } },
    h("label", { attrs: { for: id }, i18n: "followup.clear.label" }), note, error,
    h("div", { class: "dialog-actions" },
      h("button", { class: "button primary", data: { testid: "followup-clear-submit" }, attrs: { type: "submit" }, i18n: "followup.clear.submit" }),
      h("button", { class: "button", attrs: { type: "button" }, i18n: "handover.form.cancel", on: { click: () => { this.clearing = null; this.render(); } } })));
  }

  // --- the end-of-week form ------------------------------------------------------------------

  async openForm(view) {
    let options;
    try {
      options = await apiRequest("GET", "/api/handovers/draft");
    } catch (error) {
      this.status = { error: error instanceof ApiError ? error.status : "—" };
      this.render();
      return;
    }
    const editing = view?.handover ?? null;
    const next = new Set(options.next_doctors.map((d) => d.username));
    this.form = {
      options,
      editing,
      summary: editing?.summary ?? "",
      items: editing ? editing.items.map((item) => ({ ...item })) : [{ kind: "patient", text: "", consultation_id: null, due_on: null }],
      recipients: new Set(editing ? editing.recipients : next),
      next,
      message: null,
    };
    this.render();
    this.body.querySelector("#handover-summary")?.focus();
  }

  renderForm() {
    const form = this.form;
    const summary = h("textarea", { id: "handover-summary", class: "handover-summary-input", data: { testid: "handover-form-summary" }, attrs: { rows: 4, maxlength: 4000 },
      on: { input: (e) => { form.summary = e.target.value; } } });
    summary.value = form.summary;
    const items = h("ol", { class: "handover-form-items" });
    form.items.forEach((item, index) => items.append(this.renderFormItem(item, index)));
    const recipients = h("fieldset", { class: "handover-recipients" }, h("legend", { i18n: "handover.form.recipients" }));
    for (const doctor of form.options.doctors) {
      const id = `recipient-${doctor.username}`;
      const box = h("input", { id, attrs: { type: "checkbox" }, data: { testid: "handover-recipient", username: doctor.username },
        on: { change: (e) => { if (e.target.checked) form.recipients.add(doctor.username); else form.recipients.delete(doctor.username); } } });
      box.checked = form.recipients.has(doctor.username);
      recipients.append(h("div", { class: "check" }, box, h("label", { attrs: { for: id } }, doctor.display_name,
        form.next.has(doctor.username) ? h("span", { class: "muted", text: ` ${t("handover.form.recipients.next")}` }) : null)));
    }
    recipients.append(h("p", { class: "muted", i18n: "handover.form.recipients.hint" }));
    const message = h("p", { class: form.message?.[0] === "handover.form.sent" ? "success-text" : "error-text", data: { testid: "handover-form-message" }, attrs: { role: "alert" } });
    if (form.message) bindText(message, ...form.message);
    return h("form", { class: "panel handover-form", data: { testid: "handover-form" }, attrs: { "aria-labelledby": "handover-form-title", novalidate: true },
      on: { submit: (e) => { e.preventDefault(); this.submitForm(); } } },
    h("h3", { id: "handover-form-title", i18n: "handover.form.title" }),
    h("p", { class: "muted", i18n: "handover.cabins", args: { cabins: form.options.cabin_ids.map((c) => form.options.towns[c] ?? c).join(", ") || "—" } }),
    h("div", { class: "field" }, h("label", { attrs: { for: "handover-summary" }, i18n: "handover.form.summary" }), summary),
    h("h4", { i18n: "handover.form.items" }), items,
    h("button", { class: "button secondary", data: { testid: "handover-add-item" }, attrs: { type: "button" }, i18n: "handover.form.add",
      on: { click: () => { form.items.push({ kind: "action", text: "", consultation_id: null, due_on: null }); this.render(); this.body.querySelector(`#item-text-${form.items.length - 1}`)?.focus(); } } }),
    recipients, message,
    h("div", { class: "dialog-actions" },
      h("button", { class: "button primary", data: { testid: "handover-submit" }, attrs: { type: "submit" }, i18n: form.editing ? "handover.form.save" : "handover.form.submit" }),
      h("button", { class: "button", data: { testid: "handover-cancel" }, attrs: { type: "button" }, i18n: "handover.form.cancel", on: { click: () => { this.form = null; this.render(); } } })));
  }

  renderFormItem(item, index) {
    const n = index + 1;
    const kind = h("select", { id: `item-kind-${index}`, data: { testid: "handover-item-kind" }, on: { change: (e) => { item.kind = e.target.value; } } },
      ...KINDS.map((k) => h("option", { attrs: { value: k }, i18n: `handover.kind.${k}` })));
    kind.value = item.kind;
    const text = h("textarea", { id: `item-text-${index}`, data: { testid: "handover-item-text" }, attrs: { rows: 2, maxlength: 2000 }, on: { input: (e) => { item.text = e.target.value; } } });
    text.value = item.text;
    const linked = h("select", { id: `item-consultation-${index}`, data: { testid: "handover-item-consultation" }, on: { change: (e) => { item.consultation_id = e.target.value || null; } } },
      h("option", { attrs: { value: "" }, i18n: "handover.form.consultation.none" }),
      ...this.form.options.consultations.map((c) => h("option", { attrs: { value: c.consultation_id },
        text: `${formatDateTime(new Date(c.joined_at))} — ${c.family_name.toUpperCase()} ${c.given_names}, ${t("age.years", { n: c.age_years })} (${this.form.options.towns[c.cabin_id] ?? c.cabin_id})` })));
    linked.value = item.consultation_id ?? "";
    const due = h("input", { id: `item-due-${index}`, data: { testid: "handover-item-due" }, attrs: { type: "date" }, on: { change: (e) => { item.due_on = e.target.value || null; } } });
    due.value = item.due_on ?? "";
    return h("li", { class: "handover-form-item", data: { testid: "handover-form-item" } },
      h("fieldset", {}, h("legend", { i18n: "handover.form.item", args: { n } }),
        h("div", { class: "handover-item-grid" },
          h("div", { class: "field" }, h("label", { attrs: { for: kind.id }, i18n: "handover.form.kind" }), kind),
          h("div", { class: "field wide" }, h("label", { attrs: { for: text.id }, i18n: "handover.form.text" }), text),
          h("div", { class: "field" }, h("label", { attrs: { for: linked.id }, i18n: "handover.form.consultation" }), linked),
          h("div", { class: "field" }, h("label", { attrs: { for: due.id }, i18n: "handover.form.due" }), due)),
        h("button", { class: "button link danger", attrs: { type: "button", "aria-label": t("handover.form.remove", { n }) }, text: "✕",
          on: { click: () => { this.form.items.splice(index, 1); this.render(); } } })));
  }

  async submitForm() {
    const form = this.form;
    const items = form.items.filter((item) => item.text.trim()).map((item) => ({
      kind: item.kind, text: item.text.trim(),
      ...(item.consultation_id ? { consultation_id: item.consultation_id } : {}),
      ...(item.due_on ? { due_on: item.due_on } : {}),
    }));
    if (!form.summary.trim() && items.length === 0) {
      form.message = ["handover.form.empty"];
      this.render();
      return;
    }
    const body = { summary: form.summary.trim(), items, recipients: [...form.recipients] };
    try {
      if (form.editing) {
        await apiRequest("PUT", `/api/handovers/${encodeURIComponent(form.editing.handover_id)}`, { csrf: this.me.csrf_token, body });
      } else {
        await apiRequest("POST", "/api/handovers", { csrf: this.me.csrf_token, body });
      }
    } catch (error) {
      form.message = ["handover.form.failed", { status: error instanceof ApiError ? error.status : "—" }];
      this.render();
      return;
    }
    this.form = null;
    await this.load();
    this.title.focus();
  }

  relabel() {
    this.history?.panel.render();
    this.render();
  }

  dispose() {
    this.history?.panel.dispose();
    this.inbox = null;
    this.followups = [];
    this.form = null;
    this.root.remove();
  }
}
