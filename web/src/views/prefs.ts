// Language and theme. They are remembered only in the `payam_prefs` cookie, which the server
// sets only while the user allows the optional "preferences" category (P6.1, P6.2); refused,
// a choice lasts for the page. Nothing else of them is stored in the browser.
import { api } from "../api/http";
import { type Lang, detectLang, dir, isLang, setLang } from "../i18n";

export type Theme = "system" | "light" | "dark";
const PREFS_COOKIE = "payam_prefs";

let theme: Theme = "system";

/** The remembered choices: the cookie reads "theme:dark|language:fa". */
export function rememberedPrefs(cookie: string = document.cookie): { theme?: Theme; language?: string } {
  for (const part of cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name !== PREFS_COOKIE) continue;
    const out: { theme?: Theme; language?: string } = {};
    for (const pair of decodeURIComponent(rest.join("=")).replace(/^"|"$/g, "").split("|")) {
      const [key, value] = pair.split(":");
      if (key === "theme" && (value === "light" || value === "dark" || value === "system")) out.theme = value;
      if (key === "language" && value) out.language = value;
    }
    return out;
  }
  return {};
}

export function initialLang(): Lang {
  const remembered = rememberedPrefs().language;
  return detectLang(location.search, isLang(remembered) ? remembered : null, navigator.languages ?? [navigator.language]);
}

export function applyLang(l: Lang): void {
  setLang(l);
  document.documentElement.lang = l;
  document.documentElement.dir = dir(l);
}

export function currentTheme(): Theme {
  return theme;
}

export function initialTheme(): Theme {
  return rememberedPrefs().theme ?? "system";
}

export function applyTheme(next: Theme): void {
  theme = next;
  if (next === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = next;
}

/** Ask the server to remember the current choices (it does only while they are allowed). */
export async function rememberPrefs(language: Lang): Promise<boolean> {
  try {
    return (await api.setPreferences({ theme, language })).cookie_set;
  } catch {
    return false;
  }
}
