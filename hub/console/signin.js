// The staff pages' sign-in, shared by the agents' alerts (/agent), the coordination
// (/coordination) and the fleet (/flotte): the form (built here into the page's empty
// #login-screen section, its labels from the page's own strings: each page registers its
// "login.*" keys in its i18n.js), the hub's one login (/api/login through ./api.js: same origin,
// the session cookie, the CSRF token in the answer), its errors (a wrong password, a locked
// account, too many tries, no server), the session check on load (/api/me) and the sign-out
// (/api/logout with the CSRF token), and the header's FR/EN toggle. What happens once signed in
// is the page's: `enter(me)`.
//
// The page's markup keeps an empty `<section id="login-screen" class="login-screen" hidden>`,
// the header's `#app-header-user` (with its `#logout` button) and `#lang-toggle`; the common
// look is in ./staff.css.

import { ApiError, getMe, login, logout } from "./api.js";
import {
  applyI18n, bindText, getLanguage, initLanguage, onLanguageChange, setLanguage,
} from "./i18n.js";

const $ = (id) => document.getElementById(id);

/** The string key (and its arguments) that tells why a sign-in failed. */
export function loginErrorMessage(error) {
  if (!(error instanceof ApiError)) return ["login.error.network"];
  if (error.status === 401) return ["login.error.credentials"];
  if (error.status === 429) {
    const seconds = Math.max(1, Math.ceil(Number(error.body?.retry_after_s) || 60));
    if (error.body?.reason === "locked") return ["login.error.locked", { minutes: Math.ceil(seconds / 60) }];
    return ["login.error.rate", { seconds }];
  }
  return ["login.error.server", { status: error.status }];
}

function field(id, name, labelKey, attrs) {
  const label = bindText(document.createElement("label"), labelKey);
  label.htmlFor = id;
  const input = document.createElement("input");
  input.id = id;
  input.name = name;
  for (const [attr, value] of Object.entries(attrs)) input.setAttribute(attr, value);
  input.required = true;
  input.dataset.testid = id;
  const box = document.createElement("div");
  box.className = "field";
  box.append(label, input);
  return box;
}

function buildForm() {
  const form = document.createElement("form");
  form.id = "login-form";
  form.className = "panel login-form";
  form.noValidate = true;
  const lead = bindText(document.createElement("p"), "login.lead");
  lead.className = "muted";
  const error = document.createElement("p");
  error.id = "login-error";
  error.className = "error-text";
  error.setAttribute("role", "alert");
  error.dataset.testid = "login-error";
  error.hidden = true;
  const submit = bindText(document.createElement("button"), "login.submit");
  submit.id = "login-submit";
  submit.className = "button primary big";
  submit.type = "submit";
  submit.dataset.testid = "login-submit";
  form.append(
    bindText(document.createElement("h2"), "login.title"),
    lead,
    field("login-username", "username", "login.username", {
      type: "text", autocomplete: "username", autocapitalize: "none", spellcheck: "false",
    }),
    field("login-password", "password", "login.password", {
      type: "password", autocomplete: "current-password",
    }),
    error,
    submit,
  );
  return form;
}

export class SignIn {
  /**
   * @param {object} app the page: `me` (the signed-in session, or null), `enter(me)` (may
   *   return a promise, awaited), `leave()` (stop timers and sockets, forget data) and
   *   `showScreen(id)` (show that one of its screens)
   * @param {object} options
   * @param {string} options.logTag prefix of the console warning when the sign-out fails
   * @param {string[]} [options.hide] ids hidden with the form, besides #app-header-user
   * @param {() => void} [options.beforeSubmit] on the submit (a user gesture), before the request
   */
  constructor(app, { logTag, hide = [], beforeSubmit = () => {} }) {
    this.app = app;
    this.logTag = logTag;
    this.hide = ["app-header-user", ...hide];
    this.beforeSubmit = beforeSubmit;
  }

  /**
   * The language (the stored choice, the header's toggle; `relabel` after each change), then
   * the form built into #login-screen, its submit and the #logout button wired.
   */
  mount(relabel) {
    initLanguage();
    $("login-screen").replaceChildren(buildForm());
    applyI18n(document);
    const toggle = $("lang-toggle");
    bindText(toggle, "lang.toggle");
    toggle.addEventListener("click", () => setLanguage(getLanguage() === "fr" ? "en" : "fr"));
    onLanguageChange(() => {
      bindText(toggle, "lang.toggle");
      relabel();
    });
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.beforeSubmit();
      this.submit();
    });
    $("logout").addEventListener("click", () => this.signOut());
  }

  /** On load: enter if the session cookie is still good, else show the form. */
  async resume() {
    let me = null;
    try {
      me = await getMe();
    } catch {
      me = null;
    }
    if (me) await this.app.enter(me);
    else this.show();
  }

  /** Show the form, with an error message key if any. */
  show(key = null, args = undefined) {
    this.app.showScreen("login-screen");
    for (const id of this.hide) $(id).hidden = true;
    this.setError(key, args);
    $("login-username").focus();
  }

  setError(key, args) {
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

  async submit() {
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    if (!username || !password) {
      this.setError("login.error.missing");
      return;
    }
    const button = $("login-submit");
    button.disabled = true;
    bindText(button, "login.busy");
    try {
      const me = await login(username, password);
      $("login-password").value = "";
      this.setError(null);
      await this.app.enter(me);
    } catch (error) {
      $("login-password").value = "";
      this.setError(...loginErrorMessage(error));
    } finally {
      button.disabled = false;
      bindText(button, "login.submit");
    }
  }

  /** Sign out with the session's CSRF token (the hub forgets the session), then the form. */
  async signOut() {
    const csrf = this.app.me?.csrf_token;
    this.app.leave();
    try {
      if (csrf) await logout(csrf);
    } catch (error) {
      console.warn(`${this.logTag}.logout_failed`, error instanceof ApiError ? error.status : error.name);
    }
    this.show();
  }
}
