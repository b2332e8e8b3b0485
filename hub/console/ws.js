// The console's websocket to the hub (`/ws/console?csrf=`; the agents' page uses it for
// `/ws/agent`), reconnecting by itself with exponential backoff and jitter. Messages are
// checked (messages.parseMessage) before delivery. A hub replica that restarts (a rolling
// restart behind the proxy) closes with 1012, "reconnect now": the socket comes back within a
// few tenths of a second, to another replica, and says "reconnecting" meanwhile, not "lost".

import { HUB_TO_CONSOLE, MessageError, parseMessage } from "./messages.js";

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10_000;
/** RFC 6455's "Service Restart": the replica is draining; reconnect at once. */
export const SERVICE_RESTART = 1012;
const RESTART_RETRY_MS = [100, 300]; // jittered: a replica's consoles do not all come at once

export class HubSocket {
  /**
   * @param {object} options
   * @param {string} options.csrf the session's CSRF token
   * @param {(msg: object) => void} options.onMessage a checked HubToConsole message
   * @param {(status: "connecting"|"open"|"reconnecting"|"lost") => void} options.onStatus
   * @param {() => Promise<boolean>} options.stillSignedIn asked after a drop; false stops retrying
   * @param {string} [options.path] the websocket's path ("/ws/console")
   * @param {Set<string>} [options.allowed] the message types accepted (HUB_TO_CONSOLE)
   */
  constructor({ csrf, onMessage, onStatus, stillSignedIn, path = "/ws/console", allowed = HUB_TO_CONSOLE }) {
    this.csrf = csrf;
    this.path = path;
    this.allowed = allowed;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.stillSignedIn = stillSignedIn;
    this.socket = null;
    this.stopped = false;
    this.failures = 0;
    this.retryTimer = null;
    this.everOpened = false;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  get isOpen() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  /** Send one message; false if the socket is not open (the caller tells the doctor). */
  send(msg) {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify(msg));
    return true;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.onclose = null;
      socket.close(1000);
    }
  }

  connect(status = this.everOpened ? "lost" : "connecting") {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${window.location.host}${this.path}?csrf=${encodeURIComponent(this.csrf)}`;
    this.onStatus(status);
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.failures = 0;
      this.everOpened = true;
      this.onStatus("open");
    };
    socket.onmessage = (event) => {
      let msg;
      try {
        msg = parseMessage(event.data, this.allowed);
      } catch (error) {
        if (!(error instanceof MessageError)) throw error;
        console.warn("console.ws.refused", error.message);
        return;
      }
      this.onMessage(msg);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (event.code === SERVICE_RESTART && this.everOpened) this.reconnectNow();
      else this.scheduleRetry();
    };
  }

  /** The replica restarts: another one takes the socket, through the proxy, at once. */
  reconnectNow() {
    this.onStatus("reconnecting");
    this.failures = 0; // should this attempt fail, the ordinary backoff follows
    const [low, high] = RESTART_RETRY_MS;
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.connect("reconnecting");
    }, low + Math.random() * (high - low));
  }

  async scheduleRetry() {
    this.onStatus(this.everOpened ? "lost" : "connecting");
    this.failures += 1;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.failures - 1));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.retryTimer = setTimeout(async () => {
      if (this.stopped) return;
      // A refused upgrade looks like any drop: ask whether the session is still there.
      if (this.failures >= 2 && !(await this.stillSignedIn())) {
        this.stop();
        return;
      }
      if (!this.stopped) this.connect();
    }, delay);
  }
}
