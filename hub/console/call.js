// The WebRTC side of a call. The cabin offers; the console answers with its camera and
// microphone, after gathering its candidates (at most 2 s), and trickles the later ones. A new
// offer during the call (the cabin reconnecting) replaces the peer connection; the local media
// stay. The cabin's data channel (`cabin`) carries wire.CallChannel messages: a heartbeat each
// second both ways, and silence for 3 s means the link is down.

import { CALL_CHANNEL, MessageError, heartbeat, iceCandidate, parseMessage, sdpAnswer } from "./messages.js";

const GATHER_TIMEOUT_MS = 2000;
const HEARTBEAT_MS = 1000;
const SILENCE_MS = 3000;
const WATCH_MS = 250;
const CHANNEL_LABEL = "cabin";

/** wire IceServer list -> RTCIceServer list. */
export function toRtcIceServers(servers) {
  return (servers ?? []).map((server) => {
    const rtc = { urls: server.urls };
    if (server.username != null) rtc.username = server.username;
    if (server.credential != null) rtc.credential = server.credential;
    return rtc;
  });
}

/**
 * The doctor's camera and microphone; an Error (not thrown) when the browser refuses them.
 * The console asks for them as soon as the doctor clicks to take a patient, so that they are
 * ready when the cabin's offer arrives (opening a camera takes tens of milliseconds).
 */
export async function openLocalMedia() {
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
    });
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** Stop what `openLocalMedia` opened, when the patient was taken by someone else. */
export async function closeLocalMedia(media) {
  const stream = await media;
  if (stream && !(stream instanceof Error)) for (const track of stream.getTracks()) track.stop();
}

export class CallSession {
  /**
   * @param {object} o
   * @param {string} o.consultationId
   * @param {object[]} o.iceServers wire IceServer list
   * @param {"all"|"relay"} o.icePolicy
   * @param {(msg: object) => boolean} o.sendSignal to the hub's websocket
   * @param {(state: string) => void} o.onCallState waiting-offer|connecting|connected|reconnecting|ended
   * @param {(state: string) => void} o.onLinkState connecting|connected|reconnecting (data channel)
   * @param {(stream: MediaStream) => void} o.onRemoteStream
   * @param {(stream: MediaStream|null, error: Error|null) => void} o.onLocalMedia
   * @param {(msg: object) => void} o.onChannelMessage a checked CallChannel message (not heartbeats)
   * @param {() => void} o.onChannelOpen
   */
  constructor(o) {
    Object.assign(this, o);
    this.pc = null;
    this.channel = null;
    this.generation = 0;
    this.closed = false;
    this.callState = null;
    this.linkState = null;
    this.lastHeardAt = 0;
    this.everConnected = false;
    this.pendingCandidates = [];
    this.localStream = null;
    this.mediaPromise = this.openMedia();
    this.heartbeatTimer = setInterval(() => this.sendHeartbeat(), HEARTBEAT_MS);
    this.watchTimer = setInterval(() => this.watchSilence(), WATCH_MS);
    this.setCallState("waiting-offer");
    this.setLinkState("connecting");
  }

  async openMedia() {
    const stream = await (this.earlyMedia ?? openLocalMedia());
    if (stream === null || stream instanceof Error) {
      this.onLocalMedia(null, stream);
      return null; // answer anyway: the doctor still sees and hears the patient
    }
    if (this.closed) {
      for (const track of stream.getTracks()) track.stop();
      return null;
    }
    this.localStream = stream;
    this.onLocalMedia(stream, null);
    return stream;
  }

  setCallState(state) {
    if (this.callState === state) return;
    this.callState = state;
    this.onCallState(state);
  }

  setLinkState(state) {
    if (this.linkState === state) return;
    this.linkState = state;
    this.onLinkState(state);
  }

  /** ICE servers for the next peer connection (the current one goes on as it is). */
  renewIce(iceServers, icePolicy) {
    this.iceServers = iceServers;
    this.icePolicy = icePolicy;
  }

  /** The cabin's `SdpOffer`: a fresh peer connection, answered once gathered. */
  async handleOffer(sdp) {
    if (this.closed) return;
    const generation = ++this.generation;
    this.dropPeer();
    this.pendingCandidates = [];
    if (this.everConnected) this.setCallState("reconnecting");
    else this.setCallState("connecting");
    const pc = new RTCPeerConnection({
      iceServers: toRtcIceServers(this.iceServers),
      iceTransportPolicy: this.icePolicy === "relay" ? "relay" : "all",
    });
    this.pc = pc;
    const current = () => !this.closed && generation === this.generation;
    let answerSent = false;
    let trickled = 0;
    const remoteStream = new MediaStream();
    pc.ontrack = (event) => {
      if (!current()) return;
      remoteStream.addTrack(event.track);
      this.onRemoteStream(remoteStream);
    };
    pc.ondatachannel = (event) => {
      if (current() && event.channel.label === CHANNEL_LABEL) this.attachChannel(event.channel);
    };
    pc.onicecandidate = (event) => {
      if (!current() || !answerSent) return; // before the answer, candidates go in its SDP
      if (event.candidate && event.candidate.candidate) {
        trickled += 1;
        this.sendSignal(iceCandidate(this.consultationId, event.candidate));
      } else if (!event.candidate && trickled > 0) {
        this.sendSignal(iceCandidate(this.consultationId, null)); // end of candidates
      }
    };
    pc.onconnectionstatechange = () => {
      if (!current()) return;
      const state = pc.connectionState;
      if (state === "connected") {
        this.everConnected = true;
        this.setCallState("connected");
      } else if (state === "disconnected" || state === "failed") {
        this.setCallState("reconnecting"); // the cabin offers again by itself
      }
    };

    try {
      await pc.setRemoteDescription({ type: "offer", sdp });
      const stream = await this.mediaPromise;
      if (!current()) return;
      if (stream) for (const track of stream.getTracks()) pc.addTrack(track, stream);
      await pc.setLocalDescription(await pc.createAnswer());
      for (const candidate of this.pendingCandidates.splice(0)) await this.addRemoteCandidate(pc, candidate);
      await waitForGathering(pc, GATHER_TIMEOUT_MS);
      if (!current()) return;
      answerSent = this.sendSignal(sdpAnswer(this.consultationId, pc.localDescription.sdp));
    } catch (error) {
      if (!current()) return;
      console.warn("console.call.answer_failed", error.name);
      this.setCallState("reconnecting"); // the cabin offers again
    }
  }

  /** The cabin's `IceCandidate` (an empty candidate ends them). */
  async handleCandidate(msg) {
    const pc = this.pc;
    if (this.closed || !pc) return;
    if (!pc.remoteDescription) {
      this.pendingCandidates.push(msg);
      return;
    }
    await this.addRemoteCandidate(pc, msg);
  }

  async addRemoteCandidate(pc, msg) {
    try {
      if (!msg.candidate) {
        await pc.addIceCandidate();
        return;
      }
      const candidate = msg.candidate.startsWith("candidate:") ? msg.candidate : `candidate:${msg.candidate}`;
      const init = { candidate };
      if (msg.sdp_mid != null) init.sdpMid = msg.sdp_mid;
      if (msg.sdp_mline_index != null) init.sdpMLineIndex = msg.sdp_mline_index;
      if (init.sdpMid === undefined && init.sdpMLineIndex === undefined) init.sdpMLineIndex = 0;
      await pc.addIceCandidate(init);
    } catch (error) {
      console.warn("console.call.candidate_refused", error.name);
    }
  }

  attachChannel(channel) {
    this.channel = channel;
    channel.onopen = () => {
      if (this.channel !== channel) return;
      this.heard();
      this.sendHeartbeat();
      this.onChannelOpen();
    };
    channel.onmessage = (event) => {
      if (this.channel !== channel || this.closed) return;
      let msg;
      try {
        msg = parseMessage(event.data, CALL_CHANNEL);
      } catch (error) {
        if (!(error instanceof MessageError)) throw error;
        console.warn("console.channel.refused", error.message);
        return;
      }
      this.heard();
      if (msg.type !== "heartbeat") this.onChannelMessage(msg);
    };
    channel.onclose = () => {
      if (this.channel === channel) this.channel = null;
    };
    if (channel.readyState === "open") channel.onopen();
  }

  heard() {
    this.lastHeardAt = performance.now();
    this.setLinkState("connected");
  }

  watchSilence() {
    if (this.linkState === "connected" && performance.now() - this.lastHeardAt > SILENCE_MS) {
      this.setLinkState("reconnecting");
    }
  }

  get channelOpen() {
    return this.channel !== null && this.channel.readyState === "open";
  }

  /** Send one CallChannel message on the data channel; false if it is not open. */
  sendOnChannel(msg) {
    if (!this.channelOpen) return false;
    try {
      this.channel.send(JSON.stringify(msg));
      return true;
    } catch (error) {
      console.warn("console.channel.send_failed", error.name);
      return false;
    }
  }

  sendHeartbeat() {
    if (this.channelOpen) this.sendOnChannel(heartbeat());
  }

  setMicEnabled(enabled) {
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = enabled;
  }

  setCameraEnabled(enabled) {
    for (const track of this.localStream?.getVideoTracks() ?? []) track.enabled = enabled;
  }

  /** Close the current peer connection and its channel (a new offer will bring another). */
  dropPeer() {
    if (this.channel) {
      const channel = this.channel;
      this.channel = null;
      channel.onopen = channel.onmessage = channel.onclose = null;
      channel.close();
    }
    if (this.pc) {
      const pc = this.pc;
      this.pc = null;
      pc.ontrack = pc.ondatachannel = pc.onicecandidate = pc.onconnectionstatechange = null;
      pc.close();
    }
    if (this.linkState === "connected") this.setLinkState("reconnecting");
  }

  /**
   * End: camera and microphone released and timers stopped at once; the peer connection closed
   * once the data channel has sent what it holds (a last CallEnd), at most `flushMs` later.
   */
  close({ flushMs = 0 } = {}) {
    if (this.closed) return;
    this.closed = true;
    this.generation += 1;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.watchTimer);
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.localStream = null;
    this.setCallState("ended");
    const channel = this.channel;
    if (flushMs > 0 && channel && channel.readyState === "open" && channel.bufferedAmount > 0) {
      const deadline = performance.now() + flushMs;
      const wait = () => {
        if (channel.bufferedAmount > 0 && performance.now() < deadline) setTimeout(wait, 20);
        else this.dropPeer();
      };
      setTimeout(wait, 20);
    } else if (flushMs > 0 && channel && channel.readyState === "open") {
      setTimeout(() => this.dropPeer(), 50); // let the SCTP stack hand the last message over
    } else {
      this.dropPeer();
    }
  }
}

function waitForGathering(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}
