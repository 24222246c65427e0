import { describe, expect, it } from "vitest";
import { rememberedPrefs } from "./prefs";

describe("the preferences cookie", () => {
  it("reads theme and language, and nothing from other cookies", () => {
    expect(rememberedPrefs("payam_csrf=x; payam_prefs=theme:dark|language:fa")).toEqual({ theme: "dark", language: "fa" });
    expect(rememberedPrefs('payam_prefs="language:en"')).toEqual({ language: "en" });
    expect(rememberedPrefs("other=theme:dark")).toEqual({});
    expect(rememberedPrefs("payam_prefs=theme:purple")).toEqual({});
  });
});
