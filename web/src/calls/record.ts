// How a call's record (a message of kind "call") reads in the chat list and in the history.
import type { Message } from "../api/types";
import { num, t } from "../i18n";

export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, "0");
  const ss = String(s % 60).padStart(2, "0");
  const text = h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  return text.replace(/\d/g, (d) => num(Number(d)));
}

/** "Voice call · 2:31", "Video call · Missed" (the caller sees "No answer"). */
export function callSummary(m: Message, me: number | undefined): string {
  const call = m.call;
  if (!call) return "";
  const kind = t(call.video ? "call.video" : "call.voice");
  const mine = m.sender_id === me;
  const outcome =
    call.outcome === "answered"
      ? clock(call.duration_s)
      : call.outcome === "missed"
        ? t(mine ? "call.outcome.noAnswer" : "call.outcome.missed")
        : call.outcome === "declined"
          ? t("call.outcome.declined")
          : call.outcome === "busy"
            ? t("call.outcome.busy")
            : t("call.outcome.failed");
  return `${kind} · ${outcome}`;
}

/** A missed call, for the one who was called: shown in red. */
export function isMissed(m: Message, me: number | undefined): boolean {
  return !!m.call && m.sender_id !== me && m.call.outcome === "missed";
}
