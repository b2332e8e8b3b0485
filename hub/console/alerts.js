// Alert banners in the doctor's console: an alert of the cabin the doctor is in a call with
// (`alert`), or any cabin's alert nobody acknowledged in time (`alert_escalated`, with the
// emergency number to call). "Je prends en charge" sends `alert_ack`; an `alert_ack` from
// anyone replaces the banner with who handled it, for a few seconds. When the console
// (re)connects, the open ones come in one `alert_summary` (bounded), which replaces the banners
// still open; a cabin's repeats of an alert come merged into it, with their count.

import { h, replaceChildren } from "./dom.js";
import { formatTime, t } from "./i18n.js";
import { alertAck, summaryAlerts } from "./messages.js";

const HANDLED_SHOWN_MS = 8000;

export class AlertBanners {
  /**
   * @param {object} options
   * @param {HTMLElement} options.root where the banners go (above the screens)
   * @param {(msg: object) => boolean} options.send to the hub; false when the socket is down
   * @param {() => string} options.username the signed-in doctor's username
   */
  constructor({ root, send, username }) {
    this.root = root;
    this.send = send;
    this.username = username;
    this.alerts = new Map(); // alert_id -> {alert, escalation, handled, pending, node}
  }

  handle(msg) {
    switch (msg.type) {
      case "alert":
        this.upsert(msg.alert_id, { alert: msg });
        break;
      case "alert_escalated":
        this.upsert(msg.alert_id, { escalation: msg });
        break;
      case "alert_ack":
        this.handled(msg);
        break;
      case "alert_summary":
        this.summary(msg);
        break;
      default:
        break;
    }
  }

  upsert(alertId, fields) {
    const known = this.alerts.get(alertId);
    if (known?.handled) return;
    const entry = known ?? { alert: null, escalation: null, handled: null, pending: false, node: null };
    Object.assign(entry, fields);
    this.alerts.set(alertId, entry);
    this.render(alertId);
  }

  summary(msg) {
    const listed = summaryAlerts(msg);
    const ids = new Set(listed.map(({ alert }) => alert.alert_id));
    for (const [alertId, entry] of this.alerts) {
      if (!ids.has(alertId) && !entry.handled) {
        entry.node?.remove();
        this.alerts.delete(alertId);
      }
    }
    for (const { alert, escalation } of listed) this.upsert(alert.alert_id, { alert, escalation });
  }

  handled(ack) {
    const entry = this.alerts.get(ack.alert_id);
    if (!entry) return;
    entry.handled = ack;
    entry.pending = false;
    this.render(ack.alert_id);
    setTimeout(() => {
      entry.node?.remove();
      this.alerts.delete(ack.alert_id);
    }, HANDLED_SHOWN_MS);
  }

  /** The hub acknowledged our `alert_ack` (its msg_id): nothing more to do than wait for the relay. */
  handleAck(_ackOf) {}

  take(alertId) {
    const entry = this.alerts.get(alertId);
    if (!entry || entry.pending || entry.handled) return;
    if (!this.send(alertAck(alertId, this.username()))) {
      entry.error = "alert.console.offline";
      this.render(alertId);
      return;
    }
    entry.pending = true;
    entry.error = null;
    this.render(alertId);
  }

  relabel() {
    for (const alertId of this.alerts.keys()) this.render(alertId);
  }

  clearAll() {
    this.alerts.clear();
    replaceChildren(this.root);
  }

  render(alertId) {
    const entry = this.alerts.get(alertId);
    const info = entry.escalation ?? entry.alert;
    const escalated = entry.escalation !== null;
    const kind = h("strong", { class: "alert-kind", text: t(`alert.kind.${info.kind}`) });
    const where = h("span", { class: "alert-where", text: info.cabin_name || info.cabin_id });
    const when = h("span", {
      class: "alert-when",
      text: t("alert.console.raised", { time: formatTime(new Date(info.raised_at)) }),
    });
    const repeats = entry.alert?.repeat_count > 1
      ? h("span", {
        class: "alert-repeats",
        data: { testid: "alert-repeats" },
        text: t("alert.console.repeats", { count: entry.alert.repeat_count }),
      })
      : null;
    const node = h(
      "section",
      {
        class: `alert-banner${escalated ? " escalated" : ""}${entry.handled ? " handled" : ""}`,
        attrs: { role: entry.handled ? "status" : "alert", "aria-live": "assertive" },
        data: { alertId, testid: "alert-banner", state: entry.handled ? "handled" : escalated ? "escalated" : "open" },
      },
      h("div", { class: "alert-text" },
        h("p", { class: "alert-title" },
          h("span", { class: "alert-symbol", text: "⚠", attrs: { "aria-hidden": "true" } }),
          kind, " — ", where, " · ", when, repeats ? " · " : null, repeats),
        escalated && !entry.handled
          ? h("p", { class: "alert-call", data: { testid: "alert-call" },
            text: t("alert.console.call", { number: info.emergency_number }) })
          : null,
        escalated && !entry.handled
          ? h("p", { class: "alert-detail", i18n: "alert.console.escalated" })
          : null,
        entry.handled
          ? h("p", { class: "alert-detail", text: handledText(entry.handled) })
          : null,
        entry.error ? h("p", { class: "alert-detail", i18n: entry.error }) : null,
      ),
      entry.handled
        ? null
        : h("button", {
          class: "button alert-take",
          attrs: { type: "button", disabled: entry.pending },
          data: { testid: "alert-take" },
          i18n: entry.pending ? "alert.console.taking" : "alert.console.take",
          on: { click: () => this.take(alertId) },
        }),
    );
    if (entry.node?.isConnected) entry.node.replaceWith(node);
    else if (escalated) this.root.prepend(node);
    else this.root.append(node);
    entry.node = node;
  }
}

function handledText(ack) {
  const key = ack.false_alarm ? "alert.handled.false" : "alert.handled.by";
  return t(key, { who: ack.acknowledged_by, time: formatTime(new Date(ack.acknowledged_at)) });
}
