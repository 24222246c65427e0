import { describe, expect, it } from "vitest";
import { backoff } from "./socket";

describe("reconnect backoff", () => {
  it("doubles from half a second up to 15 s, jittered within the upper half", () => {
    expect(backoff(0, () => 0)).toBe(250);
    expect(backoff(0, () => 1)).toBe(500);
    expect(backoff(3, () => 1)).toBe(4000);
    expect(backoff(20, () => 1)).toBe(15000);
    expect(backoff(20, () => 0)).toBe(7500);
  });
});
