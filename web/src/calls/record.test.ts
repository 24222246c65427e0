import { describe, expect, it } from "vitest";
import type { Message } from "../api/types";
import { setLang } from "../i18n";
import { callSummary, clock, isMissed } from "./record";

function record(outcome: NonNullable<Message["call"]>["outcome"], sender: number, duration = 0, video = false): Message {
  return {
    id: 1,
    chat_id: 1,
    seq: 1,
    sender_id: sender,
    text: null,
    deleted: false,
    kind: "call",
    call: { id: "c", video, outcome, started_at: "2026-12-03T10:00:00Z", duration_s: duration },
  };
}

describe("call records", () => {
  it("read as the kind of call and how it went, from each side", () => {
    setLang("en");
    expect(callSummary(record("answered", 1, 151), 2)).toBe("Voice call · 2:31");
    expect(callSummary(record("missed", 1, 0, true), 2)).toBe("Video call · Missed");
    expect(callSummary(record("missed", 1), 1)).toBe("Voice call · No answer");
    expect(callSummary(record("declined", 1), 1)).toBe("Voice call · Declined");
    expect(isMissed(record("missed", 1), 2)).toBe(true);
    expect(isMissed(record("missed", 1), 1)).toBe(false);
  });

  it("writes the timer with Persian digits in Persian", () => {
    setLang("fa");
    expect(clock(3725)).toBe("۱:۰۲:۰۵");
    expect(callSummary(record("answered", 1, 65), 2)).toBe("تماس صوتی · ۱:۰۵");
    setLang("en");
    expect(clock(65)).toBe("1:05");
  });
});
