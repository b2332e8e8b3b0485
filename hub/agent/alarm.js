// The alarm's sound, made with WebAudio (no audio file): a two-tone pattern repeated every
// 1.2 s while any urgent alert is open, a single soft chime for a less urgent one (a printer).
// Browsers keep an AudioContext suspended until a user gesture: `unlock()` is called from
// every click (the login button's too), and `needsGesture` tells the page to show its
// "Activer le son" button. The state is mirrored on <body data-alarm data-audio> for tests.

const PERIOD_MS = 1200;
const VIBRATION = [400, 200, 400];

export class Alarm {
  constructor({ onChange }) {
    this.onChange = onChange;
    this.context = null;
    this.ringing = false;
    this.timer = null;
    try {
      const Context = window.AudioContext || window.webkitAudioContext;
      this.context = Context ? new Context() : null;
    } catch {
      this.context = null;
    }
    if (this.context) this.context.onstatechange = () => this.changed();
    this.changed();
  }

  get audioState() {
    return this.context ? this.context.state : "unavailable";
  }

  /** True when the browser holds the sound back until the agent touches the page. */
  get needsGesture() {
    return this.context !== null && this.context.state === "suspended";
  }

  /** Call from a user gesture (a click): lets the sound play from now on. */
  unlock() {
    if (this.context && this.context.state === "suspended") {
      this.context.resume().then(() => this.changed(), () => this.changed());
    }
  }

  /** Ring (true) or stop (false). */
  ring(on) {
    if (on === this.ringing) return;
    this.ringing = on;
    clearInterval(this.timer);
    this.timer = null;
    if (on) {
      this.pattern();
      this.timer = setInterval(() => this.pattern(), PERIOD_MS);
    }
    this.changed();
  }

  /** One soft chime (a less urgent alert). */
  chime() {
    this.tone(660, 0, 0.18, "sine", 0.25);
    this.tone(880, 0.2, 0.3, "sine", 0.25);
  }

  pattern() {
    this.tone(960, 0, 0.28, "square", 0.35);
    this.tone(720, 0.32, 0.28, "square", 0.35);
    this.tone(960, 0.64, 0.28, "square", 0.35);
    if (typeof navigator.vibrate === "function") {
      try {
        navigator.vibrate(VIBRATION);
      } catch {
        // vibration refused (no user activation yet): the sound and the screen remain
      }
    }
  }

  tone(frequency, startS, durationS, type, volume) {
    const ctx = this.context;
    if (!ctx || ctx.state !== "running") return;
    const start = ctx.currentTime + startS;
    const oscillator = ctx.createOscillator();
    const gain = ctx.createGain();
    oscillator.type = type;
    oscillator.frequency.setValueAtTime(frequency, start);
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(volume, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + durationS);
    oscillator.connect(gain).connect(ctx.destination);
    oscillator.start(start);
    oscillator.stop(start + durationS + 0.02);
  }

  changed() {
    document.body.dataset.alarm = this.ringing ? "ringing" : "silent";
    document.body.dataset.audio = this.audioState;
    this.onChange?.();
  }
}
