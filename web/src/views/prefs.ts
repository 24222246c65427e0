// Language and theme: read once at start, applied to <html>, remembered in localStorage.
import { type Lang, detectLang, dir, rememberLang, setLang, storedLang } from "../i18n";

export type Theme = "system" | "light" | "dark";
const THEME_KEY = "payam.theme";

export function initialLang(): Lang {
  const l = detectLang(location.search, storedLang(), navigator.languages ?? [navigator.language]);
  if (new URLSearchParams(location.search).get("lang")) rememberLang(l);
  return l;
}

export function applyLang(l: Lang): void {
  setLang(l);
  document.documentElement.lang = l;
  document.documentElement.dir = dir(l);
}

export function storedTheme(): Theme {
  try {
    const t = localStorage.getItem(THEME_KEY);
    return t === "light" || t === "dark" ? t : "system";
  } catch {
    return "system";
  }
}

export function applyTheme(theme: Theme): void {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  try {
    localStorage.setItem(THEME_KEY, theme);
  } catch {
    // the choice lasts for this page
  }
}
