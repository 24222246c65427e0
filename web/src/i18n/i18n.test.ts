import { describe, expect, it } from "vitest";
import en from "./en.json";
import fa from "./fa.json";
import { day, detectLang, num, t } from "./index";

describe("locale files", () => {
  it("fa.json has every key of en.json and no other", () => {
    expect(Object.keys(fa).sort()).toEqual(Object.keys(en).sort());
  });

  it("every string is translated (non-empty) and keeps its placeholders", () => {
    for (const [key, text] of Object.entries(en)) {
      const other = (fa as Record<string, string>)[key];
      expect(other, key).toBeTruthy();
      const names = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
      expect(names(other), key).toEqual(names(text));
    }
  });
});

describe("formatting", () => {
  it("fills placeholders and writes numbers with Persian digits in Persian", () => {
    expect(t("chats.unread", { count: 12 }, "en")).toBe("12 unread");
    expect(t("chats.unread", { count: 12 }, "fa")).toBe("۱۲ خوانده‌نشده");
    expect(num(1405, "fa")).toBe("۱٬۴۰۵");
  });

  it("writes dates in the Jalali calendar in Persian", () => {
    const nowruz = new Date(Date.UTC(2026, 2, 21, 12));
    expect(day(nowruz, "fa")).toContain("فروردین");
    expect(day(nowruz, "fa")).toContain("۱۴۰۵");
    expect(day(nowruz, "en")).toContain("March");
  });
});

describe("choosing the language", () => {
  it("prefers ?lang=, then the remembered choice, then the browser", () => {
    expect(detectLang("?lang=fa", "en", ["en-US"])).toBe("fa");
    expect(detectLang("", "fa", ["en-US"])).toBe("fa");
    expect(detectLang("", null, ["fa-IR", "en"])).toBe("fa");
    expect(detectLang("?lang=xx", null, ["de-DE"])).toBe("en");
  });
});
