// The doctor's own account: the second step of signing in (a code of an authenticator app, and
// its enrolment when an operator requires it), the password change, and keeping an active
// session alive (the hub closes sessions unused for a while: PROTOCOL.md, "HTTP (console)").

import { ApiError, changePassword, getMe } from "./api.js";
import { bindText } from "./i18n.js";

const $ = (id) => document.getElementById(id);

const MIN_PASSWORD_CHARS = 12;
const KEEPALIVE_MS = 5 * 60 * 1000; // at most one /api/me per five minutes of activity
const ACTIVITY_EVENTS = ["pointerdown", "keydown"];

export class AccountUi {
  constructor() {
    this.secondFactor = null; // null, "totp" or "totp_enrol": what the hub asked for
    this.csrf = null;
    this.lastKeepalive = 0;
    this.onActivity = () => this.keepalive();
  }

  bind() {
    $("account-password").addEventListener("click", () => this.openPasswordDialog());
    $("password-close").addEventListener("click", () => $("password-dialog").close());
    $("password-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitPassword();
    });
  }

  // --- sign-in's second step -----------------------------------------------------------------

  /** The code typed, when the hub asked for one. */
  loginCode() {
    if (!this.secondFactor) return null;
    return $("login-totp-code").value.replace(/\s/g, "") || null;
  }

  /** Show the code field (and the key to enrol) if `error` is the hub asking for it; the
   * message key to show then, or null if the error is not about the second factor. */
  secondFactorAsked(error, codeSent) {
    const asked = error instanceof ApiError && error.status === 401 ? error.body?.second_factor : null;
    if (asked !== "totp" && asked !== "totp_enrol") {
      if (this.secondFactor && error instanceof ApiError && error.status === 401) {
        $("login-totp-code").value = "";
        return "login.totp.wrong";
      }
      return null;
    }
    this.secondFactor = asked;
    $("login-totp").hidden = false;
    const enrol = asked === "totp_enrol";
    $("login-totp-enrol").hidden = !enrol;
    if (enrol) {
      const secret = String(error.body.totp_secret ?? "");
      $("login-totp-secret").textContent = secret.replace(/(.{4})/g, "$1 ").trim();
      const uri = String(error.body.otpauth_uri ?? "");
      const link = $("login-totp-uri");
      if (uri.startsWith("otpauth://")) link.setAttribute("href", uri);
      else link.removeAttribute("href");
      link.title = uri;
    }
    $("login-totp-code").value = "";
    $("login-totp-code").focus();
    if (codeSent) return enrol ? "login.totp.enrol.wrong" : "login.totp.wrong";
    return "login.totp.asked";
  }

  /** Back to the first step (signed in, signed out, or another name typed). */
  resetLogin() {
    this.secondFactor = null;
    $("login-totp").hidden = true;
    $("login-totp-enrol").hidden = true;
    $("login-totp-secret").textContent = "";
    $("login-totp-uri").removeAttribute("href");
    $("login-totp-code").value = "";
  }

  // --- signed in -----------------------------------------------------------------------------

  signedIn(me) {
    this.csrf = me.csrf_token;
    this.resetLogin();
    this.lastKeepalive = Date.now();
    for (const name of ACTIVITY_EVENTS) document.addEventListener(name, this.onActivity, { passive: true });
  }

  signedOut() {
    this.csrf = null;
    for (const name of ACTIVITY_EVENTS) document.removeEventListener(name, this.onActivity);
    const dialog = $("password-dialog");
    if (dialog.open) dialog.close();
    this.clearPasswordForm();
  }

  /** The doctor is at work: tell the hub, now and then, so that the session is not idle. */
  keepalive() {
    if (!this.csrf || Date.now() - this.lastKeepalive < KEEPALIVE_MS) return;
    this.lastKeepalive = Date.now();
    getMe().catch(() => {}); // a lost session shows itself at the next socket reconnection
  }

  // --- password change -----------------------------------------------------------------------

  openPasswordDialog() {
    this.clearPasswordForm();
    $("password-dialog").showModal();
    $("password-current").focus();
  }

  clearPasswordForm() {
    for (const id of ["password-current", "password-new", "password-confirm"]) $(id).value = "";
    this.setPasswordMessage(null);
  }

  setPasswordMessage(key, args, kind = "error") {
    const box = $("password-message");
    if (key === null) {
      box.textContent = "";
      box.hidden = true;
      delete box.dataset.kind;
      return;
    }
    bindText(box, key, args);
    box.className = kind === "error" ? "error-text" : "success-text";
    box.dataset.kind = key;
    box.hidden = false;
  }

  async submitPassword() {
    const current = $("password-current").value;
    const next = $("password-new").value;
    if (next.length < MIN_PASSWORD_CHARS) return this.setPasswordMessage("account.password.short");
    if (next !== $("password-confirm").value) return this.setPasswordMessage("account.password.mismatch");
    const button = $("password-submit");
    button.disabled = true;
    try {
      await changePassword(this.csrf, current, next);
      this.clearPasswordForm();
      this.setPasswordMessage("account.password.done", undefined, "success");
    } catch (error) {
      $("password-current").value = "";
      this.setPasswordMessage(...passwordErrorMessage(error));
    } finally {
      button.disabled = false;
    }
  }
}

function passwordErrorMessage(error) {
  if (!(error instanceof ApiError)) return ["login.error.network"];
  if (error.status === 403 && error.body?.reason === "wrong_password") return ["account.password.wrong"];
  if (error.status === 400) return ["account.password.short"];
  if (error.status === 429) {
    const seconds = Math.max(1, Math.ceil(Number(error.body?.retry_after_s) || 60));
    return ["account.password.locked", { minutes: Math.ceil(seconds / 60) }];
  }
  if (error.status === 503) return ["login.error.busy"];
  return ["account.password.failed", { status: error.status }];
}
