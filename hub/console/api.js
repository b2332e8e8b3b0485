// The hub's HTTP API (PROTOCOL.md, "HTTP (console)"): same origin, session cookie, CSRF header.

export class ApiError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body ?? {};
  }
}

async function request(method, path, { body, csrf } = {}) {
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
  let payload = null;
  if (response.status !== 204) {
    const type = response.headers.get("Content-Type") || "";
    payload = type.includes("json") ? await response.json().catch(() => null) : null;
  }
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

/** The signed-in doctor (`Me`), or null when there is no session (401). */
export async function getMe() {
  try {
    return await request("GET", "/api/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

/** Sign in; `totpCode` once the hub asked for the second factor (`second_factor` in a 401). */
export const login = (username, password, totpCode = null) =>
  request("POST", "/api/login", {
    body: totpCode ? { username, password, totp_code: totpCode } : { username, password },
  });

export const changePassword = (csrf, currentPassword, newPassword) =>
  request("POST", "/api/account/password", {
    csrf,
    body: { current_password: currentPassword, new_password: newPassword },
  });

export const logout = (csrf) => request("POST", "/api/logout", { csrf });

export const getHistory = (consultationId) =>
  request("GET", `/api/consultations/${encodeURIComponent(consultationId)}/history`);
