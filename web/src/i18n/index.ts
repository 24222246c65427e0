// Every UI string comes from en.json / fa.json; this module picks the language, formats
// numbers (Persian digits in Persian) and dates (the Jalali calendar in Persian) with Intl.
import en from "./en.json";
import fa from "./fa.json";

export type Key = keyof typeof en;
export type Lang = "en" | "fa";
export const LANGS: readonly Lang[] = ["en", "fa"];
const TABLES: Record<Lang, Record<Key, string>> = { en, fa };

let current: Lang = "en";

export function isLang(value: unknown): value is Lang {
  return value === "en" || value === "fa";
}

/** `?lang=` wins, then the remembered choice (the preferences cookie), then the browser's. */
export function detectLang(search: string, stored: string | null, browser: readonly string[]): Lang {
  const asked = new URLSearchParams(search).get("lang");
  if (isLang(asked)) return asked;
  if (isLang(stored)) return stored;
  for (const tag of browser) {
    const base = tag.toLowerCase().split("-")[0];
    if (isLang(base)) return base;
  }
  return "en";
}

export function setLang(lang: Lang): void {
  current = lang;
}

export function lang(): Lang {
  return current;
}

export function dir(l: Lang = current): "rtl" | "ltr" {
  return l === "fa" ? "rtl" : "ltr";
}

/** The string for `key` in the current language, with `{name}` placeholders filled. */
export function t(key: Key, vars?: Record<string, string | number>, l: Lang = current): string {
  const text = TABLES[l][key] ?? TABLES.en[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = vars[name];
    if (value === undefined) return whole;
    return typeof value === "number" ? num(value, l) : value;
  });
}

export function hasKey(key: string): key is Key {
  return key in TABLES.en;
}

function locale(l: Lang): string {
  return l === "fa" ? "fa-IR-u-ca-persian-nu-arabext" : "en-GB";
}

export function num(value: number, l: Lang = current): string {
  return new Intl.NumberFormat(l === "fa" ? "fa-IR" : "en-GB").format(value);
}

export function time(date: Date, l: Lang = current): string {
  return new Intl.DateTimeFormat(locale(l), { hour: "2-digit", minute: "2-digit" }).format(date);
}

/** A day as people say it: "12 Mehr 1405" in Persian (Jalali), "3 October 2026" in English. */
export function day(date: Date, l: Lang = current): string {
  return new Intl.DateTimeFormat(locale(l), {
    day: "numeric",
    month: "long",
    year: "numeric",
  }).format(date);
}

export function shortDay(date: Date, l: Lang = current): string {
  return new Intl.DateTimeFormat(locale(l), { day: "numeric", month: "short" }).format(date);
}

export function dayKey(date: Date): string {
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

export function keysOf(l: Lang): string[] {
  return Object.keys(TABLES[l]);
}
