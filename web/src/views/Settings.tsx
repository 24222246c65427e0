import { useState } from "preact/hooks";
import { type Lang, LANGS, lang, t } from "../i18n";
import { signOut } from "../state/actions";
import { useStore } from "../state/hooks";
import { navigate } from "../state/route";
import { type Theme, applyTheme, storedTheme } from "./prefs";
import { NotificationSettings } from "../push/NotificationSettings";

export function Settings({ onLang }: { onLang: (l: Lang) => void }) {
  const state = useStore();
  const [theme, setTheme] = useState<Theme>(storedTheme());
  const themes: [Theme, string][] = [
    ["system", t("settings.themeSystem")],
    ["light", t("settings.themeLight")],
    ["dark", t("settings.themeDark")],
  ];
  return (
    <main class="pane page">
      <h1>{t("settings.title")}</h1>
      <p dir="auto">{t("settings.signedInAs", { name: state.me?.name ?? "" })}</p>
      <label for="lang">{t("settings.language")}</label>
      <select id="lang" value={lang()} onChange={(e) => onLang(e.currentTarget.value as Lang)}>
        {LANGS.map((l) => (
          <option value={l} lang={l}>
            {t(`lang.${l}`)}
          </option>
        ))}
      </select>
      <fieldset>
        <legend>{t("settings.theme")}</legend>
        {themes.map(([value, label]) => (
          <label class="radio">
            <input
              type="radio"
              name="theme"
              value={value}
              checked={theme === value}
              onChange={() => {
                setTheme(value);
                applyTheme(value);
              }}
            />
            {label}
          </label>
        ))}
      </fieldset>
      <NotificationSettings />
      <button type="button" onClick={() => void signOut().then(() => navigate("/"))}>
        {t("nav.signOut")}
      </button>
    </main>
  );
}
