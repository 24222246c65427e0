// One WebSocket per tab, authenticated by the session cookie (the server checks Origin).
// It reconnects with exponential backoff and, on every open, resumes after the last seq the
// store applied, so the stream has no gap; the store drops what it already has (no duplicate).
import type { ClientFrame, ServerFrame } from "./types";

export const CLOSE_UNAUTHENTICATED = 4401;
const PING_EVERY_MS = 25_000;

export interface SocketHooks {
  cursor(): number;
  frame(frame: ServerFrame): void;
  status(online: boolean): void;
  signedOut(): void;
}

export function backoff(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(15_000, 500 * 2 ** attempt);
  return Math.round(base / 2 + (random() * base) / 2);
}

export class Socket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private ping: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(private readonly hooks: SocketHooks) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.ping);
    this.ws?.close(1000);
    this.ws = null;
  }

  /** Whether the frame went out now (false while offline: the caller retries after resume). */
  send(frame: ClientFrame): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private open(): void {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/v1/ws`);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      ws.send(JSON.stringify({ type: "resume", after: this.hooks.cursor() }));
      clearInterval(this.ping);
      this.ping = setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
    };
    ws.onmessage = (event) => {
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(event.data)) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type === "synced") this.hooks.status(true);
      this.hooks.frame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.ping);
      this.hooks.status(false);
      if (this.stopped) return;
      if (event.code === CLOSE_UNAUTHENTICATED) {
        this.hooks.signedOut();
        return;
      }
      this.timer = setTimeout(() => this.open(), backoff(this.attempt++));
    };
  }
}
