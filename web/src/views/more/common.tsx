// Small pieces the group, channel, settings, privacy and operator screens share.
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import { hasKey, t } from "../../i18n";
import { navigate } from "../../state/route";
import { TIMERS, clearError, useScreens } from "../../state/screens";

/** The last action's failure, said in words (errors.<code>, else a generic sentence). */
export function ErrorLine() {
  const s = useScreens();
  if (!s.error) return <p class="error" role="alert" />;
  const key = `errors.${s.error}`;
  const old = `error.${s.error}`;
  return (
    <p class="error" role="alert">
      {hasKey(key) ? t(key) : hasKey(old) ? t(old) : t("errors.generic", { code: s.error })}{" "}
      <button type="button" class="link-button" onClick={clearError}>
        {t("errors.dismiss")}
      </button>
    </p>
  );
}

export function Link({ to, children }: { to: string; children: preact.ComponentChildren }) {
  return (
    <a
      href={to}
      onClick={(e) => {
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

/** A disappearing timer in words: "Off", "30 seconds", "1 day"... */
export function timerLabel(seconds: number | null | undefined): string {
  if (!seconds) return t("settings.timerOff");
  if (seconds % 604800 === 0) return t("settings.timerWeeks", { n: seconds / 604800 });
  if (seconds % 86400 === 0) return t("settings.timerDays", { n: seconds / 86400 });
  if (seconds % 3600 === 0) return t("settings.timerHours", { n: seconds / 3600 });
  if (seconds % 60 === 0) return t("settings.timerMinutes", { n: seconds / 60 });
  return t("settings.timerSeconds", { n: seconds });
}

export function TimerSelect(props: { id: string; value: number | null | undefined; onChange: (v: number | null) => void }) {
  const options = TIMERS.includes(props.value ?? null) ? TIMERS : [...TIMERS, props.value ?? null];
  return (
    <select
      id={props.id}
      value={String(props.value ?? "")}
      onChange={(e) => props.onChange(e.currentTarget.value ? Number(e.currentTarget.value) : null)}
    >
      {options.map((v) => (
        <option value={String(v ?? "")}>{timerLabel(v)}</option>
      ))}
    </select>
  );
}

/** A screen loaded on first use (dynamic import), so the first load stays small. */
export function lazy<P extends object>(load: () => Promise<ComponentType<P>>, inline = false): ComponentType<P> {
  let loaded: ComponentType<P> | null = null;
  return function Lazy(props: P) {
    const [C, setC] = useState<ComponentType<P> | null>(loaded);
    useEffect(() => {
      if (!C)
        void load().then((c) => {
          loaded = c;
          setC(() => c);
        });
    }, []);
    if (!C && inline) return <p aria-busy="true">{t("status.loading")}</p>;
    if (!C)
      return (
        <main class="pane page" aria-busy="true">
          <p>{t("status.loading")}</p>
        </main>
      );
    return <C {...props} />;
  };
}

export function saveFile(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
