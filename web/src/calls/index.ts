// The light part of calls, in the first load: the call's state that views read, and the door
// to the call engine (engine.ts: RTCPeerConnection, ringtone), which is loaded only when the
// first call frame arrives or the person starts a call. Frames are handed on in the order the
// socket gave them.
import { useEffect, useState } from "preact/hooks";
import type { CallServerFrame, ServerFrame } from "../api/types";

export type CallPhase = "outgoing" | "incoming" | "connecting" | "connected" | "ended";

export interface CallView {
  phase: CallPhase;
  callId: string;
  chatId: number;
  peerId: number | null;
  video: boolean; // asked for video at the start
  muted: boolean;
  cameraOn: boolean;
  remoteVideo: boolean;
  connectedAt: number | null; // ms, for the timer
  outcome: string | null; // why it ended: declined, busy, missed, failed, hangup, or an error code
  outputs: { id: string; label: string }[]; // audio outputs, when the browser can choose
  sinkId: string;
}

let current: CallView | null = null;
const listeners = new Set<() => void>();

export function callState(): CallView | null {
  return current;
}

export function setCallState(next: CallView | null): void {
  current = next;
  for (const l of listeners) l();
}

export function useCall(): CallView | null {
  const [, set] = useState(0);
  useEffect(() => {
    const on = () => set((n) => n + 1);
    listeners.add(on);
    return () => void listeners.delete(on);
  }, []);
  return current;
}

export function isCallFrame(frame: ServerFrame): frame is CallServerFrame {
  return frame.type.startsWith("call.") || (frame.type === "error" && !!frame.call_id);
}

type Engine = typeof import("./engine");
let engine: Promise<Engine> | null = null;
let queue: Promise<unknown> = Promise.resolve();

export function loadEngine(): Promise<Engine> {
  engine ??= import("./engine");
  return engine;
}

export function callFrame(frame: CallServerFrame): void {
  queue = queue.then(() => loadEngine()).then((e) => e.handle(frame)).catch((err) => console.warn("call frame", err));
}

export function startCall(chatId: number, video: boolean): void {
  queue = queue.then(() => loadEngine()).then((e) => e.start(chatId, video)).catch((err) => console.warn("call", err));
}
