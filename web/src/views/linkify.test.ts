import { describe, expect, it } from "vitest";
import { linkify } from "./linkify";

describe("linkify", () => {
  it("makes http(s) addresses links and leaves the rest as text", () => {
    expect(linkify("see https://example.org/a?b=1, then")).toEqual([
      { text: "see " },
      { text: "https://example.org/a?b=1", href: "https://example.org/a?b=1" },
      { text: ", then" },
    ]);
  });

  it("never links another scheme, and markup stays text", () => {
    const text = 'javascript:alert(1) <img src=x onerror=alert(1)> data:text/html,<b>x</b>';
    expect(linkify(text)).toEqual([{ text }]);
  });
});
