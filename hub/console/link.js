// The quality of the call's link from RTCPeerConnection.getStats() every 2 s: inbound video
// bitrate, frames per second, round-trip time and packet loss, summed up as good/medium/poor.

const PERIOD_MS = 2000;

/** "good" | "medium" | "poor" | "unknown" from the measured numbers. */
export function classify({ kbps, fps, rttMs, lossPercent }) {
  if (kbps === null) return "unknown";
  if ((lossPercent ?? 0) > 8 || (rttMs ?? 0) > 600 || (fps ?? 99) < 5 || kbps < 60) return "poor";
  if ((lossPercent ?? 0) > 2 || (rttMs ?? 0) > 250 || (fps ?? 99) < 12 || kbps < 150) return "medium";
  return "good";
}

export class LinkQualityMonitor {
  /**
   * @param {() => RTCPeerConnection|null} getPeer the current peer connection
   * @param {(q: {quality: string, kbps: number|null, fps: number|null, rttMs: number|null,
   *   lossPercent: number|null}) => void} onQuality
   */
  constructor(getPeer, onQuality) {
    this.getPeer = getPeer;
    this.onQuality = onQuality;
    this.previous = null; // {pc, timestamp, bytes, lost, received}
    this.timer = setInterval(() => this.sample(), PERIOD_MS);
    this.busy = false;
  }

  async sample() {
    const pc = this.getPeer();
    if (!pc || this.busy) return;
    this.busy = true;
    try {
      const report = await pc.getStats();
      this.onQuality(this.measure(pc, report));
    } catch (error) {
      console.warn("console.link.stats_failed", error.name);
    } finally {
      this.busy = false;
    }
  }

  measure(pc, report) {
    let video = null;
    let pair = null;
    let selectedPairId = null;
    for (const stats of report.values()) {
      if (stats.type === "inbound-rtp" && stats.kind === "video") video = stats;
      if (stats.type === "transport" && stats.selectedCandidatePairId) selectedPairId = stats.selectedCandidatePairId;
    }
    if (selectedPairId) pair = report.get(selectedPairId) ?? null;
    if (!pair) {
      for (const stats of report.values()) {
        if (stats.type === "candidate-pair" && stats.state === "succeeded" && stats.nominated) pair = stats;
      }
    }
    const rttMs = pair && typeof pair.currentRoundTripTime === "number"
      ? Math.round(pair.currentRoundTripTime * 1000) : null;
    let kbps = null;
    let lossPercent = null;
    const fps = video && typeof video.framesPerSecond === "number" ? Math.round(video.framesPerSecond) : video ? 0 : null;
    if (video) {
      const now = {
        pc, timestamp: video.timestamp, bytes: video.bytesReceived ?? 0,
        lost: video.packetsLost ?? 0, received: video.packetsReceived ?? 0,
      };
      const before = this.previous && this.previous.pc === pc ? this.previous : null;
      if (before && now.timestamp > before.timestamp) {
        kbps = Math.round(((now.bytes - before.bytes) * 8) / (now.timestamp - before.timestamp));
        const lost = Math.max(0, now.lost - before.lost);
        const received = Math.max(0, now.received - before.received);
        lossPercent = lost + received > 0 ? Math.round((1000 * lost) / (lost + received)) / 10 : 0;
      }
      this.previous = now;
    }
    const numbers = { kbps, fps, rttMs, lossPercent };
    return { quality: classify(numbers), ...numbers };
  }

  stop() {
    clearInterval(this.timer);
    this.previous = null;
  }
}
