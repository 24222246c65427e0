import { useState } from "preact/hooks";
import { ApiFailure } from "../api/http";
import { type Lang, LANGS, hasKey, lang, t } from "../i18n";
import { requestCode, signIn } from "../state/actions";

export function errorText(error: unknown): string {
  if (error instanceof ApiFailure) {
    if (error.status === 0) return t("error.network");
    const key = "error." + error.code;
    if (hasKey(key)) return t(key);
    if (error.status === 429) return t("error.rate_limited");
    return error.message || t("error.generic");
  }
  return t("error.generic");
}

export function LangSwitch({ onLang }: { onLang: (l: Lang) => void }) {
  return (
    <div class="lang-switch">
      {LANGS.map((l) => (
        <button type="button" class="link-button" lang={l} aria-pressed={lang() === l} onClick={() => onLang(l)}>
          {t(`lang.${l}`)}
        </button>
      ))}
    </div>
  );
}

export function SignIn({ onLang }: { onLang: (l: Lang) => void }) {
  const [phone, setPhone] = useState("");
  const [code, setCode] = useState("");
  const [name, setName] = useState("");
  const [step, setStep] = useState<"phone" | "code">("phone");
  const [needName, setNeedName] = useState(false);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [wait, setWait] = useState(0);

  const sendCode = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const sent = await requestCode(phone.trim());
      setWait(sent.retry_after);
      setStep("code");
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await signIn(phone.trim(), code.trim(), needName ? name.trim() : undefined);
    } catch (err) {
      if (err instanceof ApiFailure && err.code === "name_required") setNeedName(true);
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="center signin">
      <LangSwitch onLang={onLang} />
      <h1>{t("signin.title")}</h1>
      {step === "phone" ? (
        <form onSubmit={sendCode} class="card">
          <p>{t("signin.intro")}</p>
          <label for="phone">{t("signin.phone")}</label>
          <input
            id="phone"
            type="tel"
            dir="ltr"
            autoComplete="tel"
            required
            value={phone}
            aria-describedby="phone-hint"
            onInput={(e) => setPhone(e.currentTarget.value)}
          />
          <small id="phone-hint">{t("signin.phoneHint")}</small>
          <button type="submit" disabled={busy}>
            {t("signin.sendCode")}
          </button>
        </form>
      ) : (
        <form onSubmit={submit} class="card">
          <p>{t("signin.codeSent", { phone })}</p>
          <label for="code">{t("signin.code")}</label>
          <input
            id="code"
            inputMode="numeric"
            autoComplete="one-time-code"
            dir="ltr"
            required
            value={code}
            onInput={(e) => setCode(e.currentTarget.value)}
          />
          {needName && (
            <>
              <label for="name">{t("signin.name")}</label>
              <input id="name" dir="auto" required value={name} aria-describedby="name-hint" onInput={(e) => setName(e.currentTarget.value)} />
              <small id="name-hint">{t("signin.nameHint")}</small>
            </>
          )}
          <button type="submit" disabled={busy}>
            {t("signin.submit")}
          </button>
          {wait > 0 && <small>{t("signin.wait", { seconds: wait })}</small>}
          <button
            type="button"
            class="link-button"
            onClick={() => {
              setStep("phone");
              setCode("");
              setNeedName(false);
              setError("");
            }}
          >
            {t("signin.otherNumber")}
          </button>
        </form>
      )}
      <p role="alert" class="error">
        {error}
      </p>
    </main>
  );
}
