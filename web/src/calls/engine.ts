// One-to-one calls over WebRTC (docs/calls.md), loaded on demand. Signalling goes only over
// the app's WebSocket as call.* frames; media goes peer to peer through the TURN relay the
// server names (GET /v1/calls/turn). With a relay configured the client uses relay candidates
// only (iceTransportPolicy "relay"), so neither side learns the other's address.
import { api } from "../api/http";
import type { CallServerFrame } from "../api/types";
import { num, t } from "../i18n";
import { learnName, sendFrame } from "../state/actions";
import { store } from "../state/store";
import { type CallView, callState, setCallState } from "./index";
import { Tone } from "./ringtone";

const ENDED_SHOWN_MS = 2500;
const CANDIDATE_BATCH_MS = 50;
const MAX_CANDIDATES = 64; // per frame, as the server allows

interface Live {
  id: string;
  chatId: number;
  peerId: number | null;
  role: "caller" | "callee";
  pc: RTCPeerConnection | null;
  local: MediaStream | null;
  remote: MediaStream;
  offer: string | null; // the invite's SDP, while it rings here
  remoteCandidates: RTCIceCandidateInit[]; // until the remote description is set
  outgoing: RTCIceCandidateInit[];
  flush: ReturnType<typeof setTimeout> | undefined;
  answered: boolean; // the caller took an answer
  negotiating: boolean; // the first offer/answer is done: later changes go as call.negotiate
  videoSender: RTCRtpSender | null;
}

let live: Live | null = null;
const tone = new Tone();
let audioEl: HTMLAudioElement | null = null;

function view(patch: Partial<CallView>): void {
  const now = callState();
  if (now) setCallState({ ...now, ...patch });
}

function newCallId(): string {
  return crypto.randomUUID().replace(/-/g, "");
}

/** The remote stream and the local one, for the call screen's <video> elements. */
export function streams(): { local: MediaStream | null; remote: MediaStream | null } {
  return { local: live?.local ?? null, remote: live?.remote ?? null };
}

/** The one <audio> element that plays the other side (and whose output can be chosen). */
function remoteAudio(): HTMLAudioElement {
  if (!audioEl) {
    audioEl = document.createElement("audio");
    audioEl.autoplay = true;
    audioEl.id = "call-audio";
    document.body.append(audioEl);
  }
  return audioEl;
}

async function rtcConfig(): Promise<RTCConfiguration> {
  try {
    const turn = await api.turn();
    return {
      iceServers: [{ urls: turn.uris, username: turn.username, credential: turn.password }],
      iceTransportPolicy: "relay",
    };
  } catch {
    // No relay on this server (409 turn_not_configured): direct candidates only.
    return { iceServers: [] };
  }
}

function peerOf(chatId: number): number | null {
  const chat = store.state.chats[chatId]?.chat;
  const me = store.state.me?.id;
  if (chat?.peer_id) return chat.peer_id;
  return chat?.members?.find((m) => m.user_id !== me)?.user_id ?? null;
}

async function openPeer(call: Live): Promise<RTCPeerConnection> {
  const pc = new RTCPeerConnection(await rtcConfig());
  call.pc = pc;
  pc.onicecandidate = (e) => {
    if (!e.candidate || !e.candidate.candidate) return;
    call.outgoing.push(e.candidate.toJSON());
    call.flush ??= setTimeout(() => flushCandidates(call), CANDIDATE_BATCH_MS);
  };
  pc.ontrack = (e) => {
    if (!call.remote.getTracks().includes(e.track)) call.remote.addTrack(e.track);
    const el = remoteAudio();
    if (el.srcObject !== call.remote) el.srcObject = call.remote;
    void el.play().catch(() => undefined);
    if (e.track.kind === "video") {
      const shown = () => view({ remoteVideo: !e.track.muted && e.track.readyState === "live" });
      e.track.onmute = shown;
      e.track.onunmute = shown;
      e.track.onended = shown;
      shown();
    }
  };
  pc.onconnectionstatechange = () => {
    if (live !== call) return;
    if (pc.connectionState === "connected" && callState()?.phase !== "connected") {
      tone.stop();
      view({ phase: "connected", connectedAt: Date.now() });
      void listOutputs();
    } else if (pc.connectionState === "failed") {
      hangup("failed");
    }
  };
  pc.onnegotiationneeded = () => {
    if (call.negotiating) void renegotiate(call);
  };
  return pc;
}

function flushCandidates(call: Live): void {
  call.flush = undefined;
  while (call.outgoing.length) {
    const candidates = call.outgoing.splice(0, MAX_CANDIDATES);
    sendFrame({ type: "call.candidates", call_id: call.id, candidates });
  }
}

async function media(video: boolean): Promise<MediaStream> {
  return navigator.mediaDevices.getUserMedia({ audio: true, video });
}

function attach(call: Live, pc: RTCPeerConnection, stream: MediaStream): void {
  call.local = stream;
  for (const track of stream.getTracks()) {
    const sender = pc.addTrack(track, stream);
    if (track.kind === "video") call.videoSender = sender;
  }
}

async function addRemoteCandidates(call: Live): Promise<void> {
  const pc = call.pc;
  if (!pc?.remoteDescription) return;
  const waiting = call.remoteCandidates.splice(0);
  for (const c of waiting) await pc.addIceCandidate(c).catch(() => undefined);
}

/** Start calling the other member of a direct chat. */
export async function start(chatId: number, video: boolean): Promise<void> {
  if (live) return;
  const call: Live = blank(newCallId(), chatId, peerOf(chatId), "caller");
  live = call;
  setCallState(initialView(call, "outgoing", video));
  if (call.peerId) void learnName(call.peerId);
  try {
    const pc = await openPeer(call);
    attach(call, pc, await media(video));
    if (!video) pc.addTransceiver("video", { direction: "recvonly" });
    view({ cameraOn: video });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (live !== call) return;
    tone.start("ringback");
    if (!sendFrame({ type: "call.invite", chat_id: chatId, call_id: call.id, sdp: offer.sdp ?? "", video })) {
      finish("offline");
    }
  } catch (err) {
    console.warn("call start", err);
    finish(err instanceof DOMException && err.name === "NotAllowedError" ? "no_media" : "failed");
  }
}

/** Take the ringing call on this device. */
export async function accept(): Promise<void> {
  const call = live;
  const shown = callState();
  if (!call || call.role !== "callee" || !call.offer || !shown || shown.phase !== "incoming") return;
  tone.stop();
  view({ phase: "connecting" });
  try {
    const pc = await openPeer(call);
    await pc.setRemoteDescription({ type: "offer", sdp: call.offer });
    call.offer = null;
    const stream = await media(shown.video);
    call.local = stream;
    for (const track of stream.getTracks()) {
      const tr = pc.getTransceivers().find((t) => t.receiver.track.kind === track.kind && !t.sender.track);
      if (tr) {
        await tr.sender.replaceTrack(track);
        tr.direction = "sendrecv";
        tr.sender.setStreams?.(stream);
        if (track.kind === "video") call.videoSender = tr.sender;
      } else {
        const sender = pc.addTrack(track, stream);
        if (track.kind === "video") call.videoSender = sender;
      }
    }
    view({ cameraOn: shown.video });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    if (live !== call) return;
    sendFrame({ type: "call.answer", call_id: call.id, sdp: answer.sdp ?? "" });
    call.negotiating = true;
    await addRemoteCandidates(call);
  } catch (err) {
    console.warn("call accept", err);
    hangup("failed");
  }
}

export function decline(): void {
  const call = live;
  if (!call) return;
  sendFrame({ type: "call.reject", call_id: call.id });
  finish("declined");
}

/** End the call (or stop calling); the server records it and tells both sides. */
export function hangup(reason?: string): void {
  const call = live;
  if (!call) return;
  sendFrame({ type: "call.hangup", call_id: call.id, ...(reason ? { reason } : {}) });
  finish(reason ?? "hangup");
}

export function toggleMute(): void {
  const shown = callState();
  if (!live?.local || !shown) return;
  const muted = !shown.muted;
  for (const t of live.local.getAudioTracks()) t.enabled = !muted;
  view({ muted });
}

/** Camera on or off mid-call: the change of what is sent goes out as call.negotiate. */
export async function toggleCamera(): Promise<void> {
  const call = live;
  const shown = callState();
  const pc = call?.pc;
  if (!call || !pc || !shown || !call.local) return;
  if (shown.cameraOn) {
    for (const t of call.local.getVideoTracks()) {
      t.stop();
      call.local.removeTrack(t);
    }
    const tr = pc.getTransceivers().find((t) => t.sender === call.videoSender);
    if (tr) {
      await tr.sender.replaceTrack(null);
      tr.direction = "recvonly";
    }
    view({ cameraOn: false });
    return;
  }
  const camera = (await navigator.mediaDevices.getUserMedia({ video: true })).getVideoTracks()[0];
  call.local.addTrack(camera);
  const tr =
    pc.getTransceivers().find((t) => t.sender === call.videoSender) ??
    pc.getTransceivers().find((t) => t.receiver.track.kind === "video" && !t.sender.track);
  if (tr) {
    await tr.sender.replaceTrack(camera);
    tr.sender.setStreams?.(call.local);
    tr.direction = "sendrecv";
    call.videoSender = tr.sender;
  } else {
    call.videoSender = pc.addTrack(camera, call.local);
  }
  view({ cameraOn: true });
}

async function renegotiate(call: Live): Promise<void> {
  const pc = call.pc;
  if (!pc || pc.signalingState !== "stable") return;
  const offer = await pc.createOffer();
  if (pc.signalingState !== "stable") return;
  await pc.setLocalDescription(offer);
  sendFrame({ type: "call.negotiate", call_id: call.id, sdp: offer.sdp ?? "" });
}

/** Where the other side's voice plays, where the browser lets the page choose. */
export async function chooseOutput(sinkId: string): Promise<void> {
  const el = remoteAudio() as HTMLAudioElement & { setSinkId?: (id: string) => Promise<void> };
  if (!el.setSinkId) return;
  await el.setSinkId(sinkId);
  view({ sinkId });
}

async function listOutputs(): Promise<void> {
  if (!("setSinkId" in HTMLMediaElement.prototype) || !navigator.mediaDevices?.enumerateDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  const outputs = devices
    .filter((d) => d.kind === "audiooutput")
    .map((d, i) => ({ id: d.deviceId, label: d.label || `${t("call.speaker")} ${num(i + 1)}` }));
  view({ outputs, sinkId: callState()?.sinkId || outputs[0]?.id || "" });
}

// -- frames from the server ---------------------------------------------------------------

export async function handle(frame: CallServerFrame): Promise<void> {
  const me = store.state.me?.id;
  if (frame.type === "call.invite") {
    if (frame.from_user_id === me) return; // my other device is calling: it rings there
    if (live) return; // the server answers busy; nothing rings twice
    const call = blank(frame.call_id, frame.chat_id ?? 0, frame.from_user_id ?? null, "callee");
    call.offer = frame.sdp ?? null;
    live = call;
    setCallState(initialView(call, "incoming", !!frame.video));
    if (call.peerId) void learnName(call.peerId);
    tone.start("ring");
    return;
  }
  const call = live;
  if (!call || frame.call_id !== call.id) return;
  switch (frame.type) {
    case "call.answer": {
      if (call.role !== "caller" || call.answered || !call.pc) return;
      call.answered = true;
      tone.stop();
      view({ phase: "connecting" });
      await call.pc.setRemoteDescription({ type: "answer", sdp: frame.sdp ?? "" });
      if (frame.from_device_id != null) {
        sendFrame({ type: "call.select_answer", call_id: call.id, device_id: frame.from_device_id });
      }
      call.negotiating = true;
      await addRemoteCandidates(call);
      return;
    }
    case "call.candidates":
      call.remoteCandidates.push(...(frame.candidates ?? []));
      await addRemoteCandidates(call);
      return;
    case "call.negotiate":
      await negotiated(call, frame.sdp ?? "");
      return;
    case "call.answered_elsewhere":
      // Another of my devices took it (or, for a caller's other device, it is on there).
      if (call.role === "callee" && callState()?.phase === "incoming") finish("elsewhere", true);
      return;
    case "call.reject":
      finish("declined");
      return;
    case "call.hangup":
      finish(frame.reason === "missed" || frame.reason === "failed" ? frame.reason : "hangup");
      return;
    case "call.ended":
      finish(frame.outcome === "answered" ? "hangup" : (frame.outcome ?? "hangup"));
      return;
    case "error":
      finish(frame.error?.code ?? "failed");
      return;
    default:
      return;
  }
}

/** A call.negotiate: an offer (a=setup:actpass, as JSEP requires of an offer) or our answer. */
async function negotiated(call: Live, sdp: string): Promise<void> {
  const pc = call.pc;
  if (!pc || !sdp) return;
  const isOffer = /a=setup:actpass/.test(sdp);
  if (!isOffer) {
    if (pc.signalingState === "have-local-offer") await pc.setRemoteDescription({ type: "answer", sdp });
    return;
  }
  if (pc.signalingState !== "stable") {
    // Both changed at once: the caller's offer wins, the callee rolls its own back.
    if (call.role === "caller") return;
    await pc.setLocalDescription({ type: "rollback" });
  }
  await pc.setRemoteDescription({ type: "offer", sdp });
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  sendFrame({ type: "call.negotiate", call_id: call.id, sdp: answer.sdp ?? "" });
}

// -- bookkeeping --------------------------------------------------------------------------

function blank(id: string, chatId: number, peerId: number | null, role: Live["role"]): Live {
  return {
    id,
    chatId,
    peerId,
    role,
    pc: null,
    local: null,
    remote: new MediaStream(),
    offer: null,
    remoteCandidates: [],
    outgoing: [],
    flush: undefined,
    answered: false,
    negotiating: false,
    videoSender: null,
  };
}

function initialView(call: Live, phase: CallView["phase"], video: boolean): CallView {
  return {
    phase,
    callId: call.id,
    chatId: call.chatId,
    peerId: call.peerId,
    video,
    muted: false,
    cameraOn: false,
    remoteVideo: false,
    connectedAt: null,
    outcome: null,
    outputs: [],
    sinkId: "",
  };
}

/** Let go of everything the call held; show why it ended for a moment (unless `quiet`). */
function finish(outcome: string, quiet = false): void {
  const call = live;
  if (!call) return;
  live = null;
  tone.stop();
  clearTimeout(call.flush);
  call.pc?.close();
  for (const t of call.local?.getTracks() ?? []) t.stop();
  if (audioEl) audioEl.srcObject = null;
  if (quiet) {
    setCallState(null);
    return;
  }
  view({ phase: "ended", outcome });
  setTimeout(() => {
    if (callState()?.callId === call.id && !live) setCallState(null);
  }, ENDED_SHOWN_MS);
}

addEventListener("pagehide", () => {
  if (live) hangup();
});

/** For the browser tests and the curious: the live peer connection's statistics. */
(globalThis as { __payamCallStats?: () => Promise<RTCStatsReport | null> }).__payamCallStats = async () =>
  live?.pc ? live.pc.getStats() : null;
