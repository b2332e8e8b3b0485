// The coordination API (hub/coordinator_http.py): same origin, session cookie, CSRF header on
// every change. Patient searches are POSTs: no name or birth date in a URL.

import { ApiError } from "/console/api.js";

export { ApiError, getMe, login, logout } from "/console/api.js";

export class Coordination {
  constructor(csrf) {
    this.csrf = csrf;
  }

  async request(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = this.csrf;
    const response = await fetch(`/api/coordination${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      redirect: "error",
    });
    let payload = null;
    if (response.status !== 204) {
      const type = response.headers.get("Content-Type") || "";
      payload = type.includes("json") ? await response.json().catch(() => null) : null;
    }
    if (!response.ok) throw new ApiError(response.status, payload);
    return payload;
  }

  cabins() { return this.request("GET", "/cabins"); }
  agenda(day) { return this.request("GET", `/agenda?day=${encodeURIComponent(day)}`); }
  book(booking) { return this.request("POST", "/appointments", booking); }
  /** One appointment with its code (audited by the hub). */
  appointment(id) { return this.request("GET", `/appointments/${encodeURIComponent(id)}`); }
  move(id, startsAt) {
    return this.request("POST", `/appointments/${encodeURIComponent(id)}/move`, { starts_at: startsAt });
  }
  cancel(id, reason) {
    return this.request("POST", `/appointments/${encodeURIComponent(id)}/cancel`, { reason });
  }
  search(who) { return this.request("POST", "/patients/search", who); }
  rota(week) { return this.request("GET", `/rota?week=${encodeURIComponent(week)}`); }
  addShifts(shift) { return this.request("POST", "/shifts", shift); }
  removeShift(id) { return this.request("POST", `/shifts/${encodeURIComponent(id)}/remove`); }
  setHours(cabinId, hours) {
    return this.request("POST", `/cabins/${encodeURIComponent(cabinId)}/opening-hours`, { hours });
  }
  addClosure(closure) { return this.request("POST", "/closures", closure); }
  closeHolidays(year) { return this.request("POST", "/closures/holidays", { year }); }
  removeClosure(id) { return this.request("POST", `/closures/${encodeURIComponent(id)}/remove`); }
  failed() { return this.request("GET", "/notifications/failed"); }
}
