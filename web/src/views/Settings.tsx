import { useEffect, useState } from "preact/hooks";
import { api } from "../api/http";
import { type Lang, LANGS, lang, t } from "../i18n";
import { signOut } from "../state/actions";
import { useStore } from "../state/hooks";
import { navigate } from "../state/route";
import { type Theme, applyTheme, currentTheme, rememberPrefs } from "./prefs";
import { ProfileSettings } from "./more";
import { NotificationSettings } from "../push/NotificationSettings";

export function Settings({ onLang }: { onLang: (l: Lang) => void }) {
  const state = useStore();
  const [theme, setTheme] = useState<Theme>(currentTheme());
  const [remember, setRemember] = useState<boolean | null>(null);
  useEffect(() => {
    api
      .consents()
      .then((c) => setRemember(Boolean(c.features.remembered_preferences)))
      .catch(() => setRemember(false));
  }, []);
  const themes: [Theme, string][] = [
    ["system", t("settings.themeSystem")],
    ["light", t("settings.themeLight")],
    ["dark", t("settings.themeDark")],
  ];
  const toggleRemember = async (on: boolean) => {
    const answer = await api.setConsents({ preferences: on });
    setRemember(Boolean(answer.features.remembered_preferences));
    if (on) await rememberPrefs(lang());
  };
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
                void rememberPrefs(lang());
              }}
            />
            {label}
          </label>
        ))}
      </fieldset>
      <label class="radio">
        <input
          type="checkbox"
          checked={remember === true}
          disabled={remember === null}
          aria-describedby="remember-hint"
          onChange={(e) => void toggleRemember(e.currentTarget.checked)}
        />
        {t("settings.remember")}
      </label>
      <p id="remember-hint" class="hint-start">
        {t("settings.rememberHint")}
      </p>
      <ProfileSettings />
      <NotificationSettings />
      <button type="button" onClick={() => void signOut().then(() => navigate("/"))}>
        {t("nav.signOut")}
      </button>
    </main>
  );
}
