// The rota, the opening hours and the closures of the coordinator's cabins, a week at a time.
// Adding a shift (a doctor, cabins, days, hours) is all or nothing: a conflict refuses it and
// the hub's explanation of each conflict is listed under the form. Removing a shift that would
// leave booked patients without a doctor is refused the same way.

import { h, replaceChildren } from "/console/dom.js";
import { addDays, mondayOf } from "./days.js";
import { formatDay, formatShortDay, t } from "./i18n.js";
import { refusalText, showRefusal } from "./refusals.js";

const $ = (id) => document.getElementById(id);
const PARTS = ["morning", "afternoon"];

export class RotaEditor {
  constructor(app) {
    this.app = app;
    this.week = mondayOf(app.day);
    this.view = null;
    this.hoursCabin = app.cabins[0]?.cabin_id ?? null;
    $("week-prev").addEventListener("click", () => this.goTo(addDays(this.week, -7)));
    $("week-next").addEventListener("click", () => this.goTo(addDays(this.week, 7)));
    $("shift-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.addShift();
    });
    $("shift-weekdays").addEventListener("click", () => {
      for (const box of $("shift-days").querySelectorAll("input")) box.checked = Number(box.dataset.weekday) < 5;
    });
    $("hours-cabin").addEventListener("change", () => {
      this.hoursCabin = $("hours-cabin").value;
      this.renderHours();
    });
    $("hours-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveHours();
    });
    $("closure-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.addClosure();
    });
    $("holidays-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.closeHolidays();
    });
    $("holidays-year").value = String(new Date().getFullYear() + (new Date().getMonth() >= 10 ? 1 : 0));
    this.renderForms();
  }

  goTo(week) {
    this.week = week;
    this.load();
  }

  async load() {
    const { value, error } = await this.app.call(() => this.app.api.rota(this.week));
    if (error) {
      this.app.notice({ text: refusalText(error).text });
      return;
    }
    this.view = value;
    this.render();
  }

  async reloadCabins() {
    const { value } = await this.app.call(() => this.app.api.cabins());
    if (value) {
      this.app.cabins = value.cabins;
      this.app.doctors = value.doctors;
    }
  }

  render() {
    $("rota-title").textContent = t("week.title", { day: formatDay(this.week) });
    this.renderDays();
    this.renderCabinOptions();
    this.renderHours();
    if (!this.view) return;
    const shifts = this.view.shifts;
    $("shift-empty").hidden = shifts.length > 0;
    replaceChildren($("shift-list"), ...shifts.map((shift) => {
      const cabin = this.app.cabin(shift.cabin_id);
      const day = formatShortDay(shift.local_day);
      return h("li", { class: "shift", data: { testid: "shift", shiftId: shift.shift_id } },
        h("span", { text: t("rota.shift", {
          day, starts: shift.local_starts, ends: shift.local_ends, cabin: cabin.name, doctor: shift.doctor_name,
        }) }),
        h("button", {
          class: "button link", attrs: { type: "button" }, data: { testid: "shift-remove" }, i18n: "rota.remove",
          ariaLabel: ["rota.remove.label", { doctor: shift.doctor_name, day }],
          on: { click: () => this.removeShift(shift) },
        }));
    }));
    const closures = this.view.closures;
    $("closure-empty").hidden = closures.length > 0;
    replaceChildren($("closure-list"), ...closures.map((closure) =>
      h("li", { class: "shift", data: { testid: "closure", closureId: closure.closure_id } },
        h("span", { text: t("closures.item", {
          cabin: this.app.cabin(closure.cabin_id).name, first: formatShortDay(closure.first_day),
          last: formatShortDay(closure.last_day), reason: closure.reason,
        }) }),
        h("button", {
          class: "button link", attrs: { type: "button" }, i18n: "closures.remove",
          on: { click: () => this.removeClosure(closure) },
        }))));
  }

  /** The doctors and cabins of the forms (kept checked across a re-render). */
  renderForms() {
    const doctor = $("shift-doctor").value;
    replaceChildren($("shift-doctor"), ...this.app.doctors.map((d) =>
      h("option", { attrs: { value: d.username }, text: d.display_name })));
    if (doctor) $("shift-doctor").value = doctor;
    for (const [id, prefix] of [["shift-cabins", "shift-cabin"], ["closure-cabins", "closure-cabin"]]) {
      const checked = new Set([...$(id).querySelectorAll("input:checked")].map((box) => box.value));
      replaceChildren($(id), ...this.app.cabins.map((cabin) =>
        h("label", { class: "check" },
          h("input", {
            attrs: { type: "checkbox", value: cabin.cabin_id, checked: checked.has(cabin.cabin_id) || this.app.cabins.length === 1 },
            data: { testid: prefix },
          }),
          ` ${cabin.name} (${cabin.town})`)));
    }
    this.renderDays();
    this.renderCabinOptions();
  }

  renderDays() {
    const checked = new Set([...$("shift-days").querySelectorAll("input:checked")].map((box) => box.dataset.weekday));
    replaceChildren($("shift-days"), ...[0, 1, 2, 3, 4, 5, 6].map((weekday) => {
      const day = addDays(this.week, weekday);
      return h("label", { class: "check" },
        h("input", {
          attrs: { type: "checkbox", value: day, checked: checked.has(String(weekday)) },
          data: { testid: "shift-day", weekday },
        }),
        ` ${formatShortDay(day)}`);
    }));
  }

  renderCabinOptions() {
    const select = $("hours-cabin");
    replaceChildren(select, ...this.app.cabins.map((cabin) =>
      h("option", { attrs: { value: cabin.cabin_id }, text: `${cabin.name} (${cabin.town})` })));
    if (this.hoursCabin) select.value = this.hoursCabin;
  }

  renderHours() {
    const cabin = this.app.cabins.find((c) => c.cabin_id === this.hoursCabin);
    const spans = cabin?.opening_hours ?? [];
    replaceChildren($("hours-rows"), ...[0, 1, 2, 3, 4, 5, 6].map((weekday) => {
      const ofDay = spans.filter((span) => span.weekday === weekday);
      const dayName = t(`weekday.${weekday}`);
      return h("tr", { data: { weekday } },
        h("th", { attrs: { scope: "row" }, text: dayName }),
        ...PARTS.map((part, index) => {
          const span = ofDay[index];
          const partName = t(`hours.${part}`);
          return h("td", { class: "hours-cell" },
            h("input", {
              attrs: { type: "time", step: 900, value: span?.opens ?? "" },
              data: { testid: `hours-${weekday}-${part}-opens`, role: "opens" },
              ariaLabel: ["hours.opens", { part: partName, day: dayName }],
            }),
            " – ",
            h("input", {
              attrs: { type: "time", step: 900, value: span?.closes ?? "" },
              data: { testid: `hours-${weekday}-${part}-closes`, role: "closes" },
              ariaLabel: ["hours.closes", { part: partName, day: dayName }],
            }));
        }));
    }));
  }

  hideErrors(prefix) {
    $(`${prefix}-error`).hidden = true;
  }

  async addShift() {
    this.hideErrors("shift");
    const body = {
      doctor: $("shift-doctor").value,
      cabin_ids: [...$("shift-cabins").querySelectorAll("input:checked")].map((box) => box.value),
      days: [...$("shift-days").querySelectorAll("input:checked")].map((box) => box.value),
      starts: $("shift-starts").value,
      ends: $("shift-ends").value,
    };
    if (!body.doctor || body.cabin_ids.length === 0 || body.days.length === 0 || !body.starts || !body.ends) {
      $("shift-error-text").textContent = t("rota.missing");
      replaceChildren($("shift-conflicts"));
      $("shift-error").hidden = false;
      return;
    }
    const { error } = await this.app.call(() => this.app.api.addShifts(body));
    if (error) {
      showRefusal($("shift-error"), $("shift-error-text"), $("shift-conflicts"), error);
      return;
    }
    this.app.notice("rota.added");
    await this.load();
    this.app.loadAgenda();
  }

  async removeShift(shift) {
    $("shift-remove-error").hidden = true;
    $("shift-remove-conflicts").hidden = true;
    const { error } = await this.app.call(() => this.app.api.removeShift(shift.shift_id));
    if (error) {
      const { text, conflicts } = refusalText(error);
      // the desk's words are its conflicts' words run together: a heading, then the list
      $("shift-remove-error").textContent = conflicts.length ? t("rota.kept") : text;
      $("shift-remove-error").hidden = false;
      replaceChildren($("shift-remove-conflicts"), ...conflicts.map((line) => h("li", { text: line })));
      $("shift-remove-conflicts").hidden = conflicts.length === 0;
      return;
    }
    this.app.notice("rota.removed");
    await this.load();
    this.app.loadAgenda();
  }

  async saveHours() {
    this.hideErrors("hours");
    const hours = [];
    for (const row of $("hours-rows").querySelectorAll("tr")) {
      for (const cell of row.querySelectorAll(".hours-cell")) {
        const opens = cell.querySelector('[data-role="opens"]').value;
        const closes = cell.querySelector('[data-role="closes"]').value;
        if (!opens && !closes) continue;
        if (!opens || !closes) {
          $("hours-error-text").textContent = t("hours.incomplete");
          replaceChildren($("hours-conflicts"));
          $("hours-error").hidden = false;
          return;
        }
        hours.push({ weekday: Number(row.dataset.weekday), opens, closes });
      }
    }
    const { error } = await this.app.call(() => this.app.api.setHours(this.hoursCabin, hours));
    if (error) {
      showRefusal($("hours-error"), $("hours-error-text"), $("hours-conflicts"), error);
      return;
    }
    this.app.notice("hours.saved");
    await this.reloadCabins();
    this.render();
    this.app.loadAgenda();
  }

  async addClosure() {
    this.hideErrors("closure");
    const body = {
      cabin_ids: [...$("closure-cabins").querySelectorAll("input:checked")].map((box) => box.value),
      first_day: $("closure-first").value,
      last_day: $("closure-last").value || $("closure-first").value,
      reason: $("closure-reason").value.trim(),
    };
    if (body.cabin_ids.length === 0 || !body.first_day || body.reason.length < 2) {
      $("closure-error-text").textContent = t("closures.missing");
      replaceChildren($("closure-conflicts"));
      $("closure-error").hidden = false;
      return;
    }
    await this.closed(() => this.app.api.addClosure(body));
  }

  async closeHolidays() {
    this.hideErrors("closure");
    await this.closed(() => this.app.api.closeHolidays(Number($("holidays-year").value)));
  }

  async closed(work) {
    const { value, error } = await this.app.call(work);
    if (error) {
      showRefusal($("closure-error"), $("closure-error-text"), $("closure-conflicts"), error);
      await this.load();
      return;
    }
    this.app.notice("closures.added", { n: value.added });
    await this.load();
    this.app.loadAgenda();
  }

  async removeClosure(closure) {
    const { error } = await this.app.call(() => this.app.api.removeClosure(closure.closure_id));
    if (error) {
      this.app.notice({ text: refusalText(error).text });
      return;
    }
    this.app.notice("closures.removed");
    await this.load();
    this.app.loadAgenda();
  }
}
