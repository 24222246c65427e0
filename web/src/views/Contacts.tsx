import { useEffect, useState } from "preact/hooks";
import { t } from "../i18n";
import { type Contact, invite, openDirect, savedPhones, setContacts } from "../state/actions";
import { navigate } from "../state/route";
import { errorText } from "./SignIn";

export function Contacts() {
  const [contacts, setList] = useState<Contact[]>([]);
  const [phone, setPhone] = useState("");
  const [error, setError] = useState("");
  const [invited, setInvited] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  const upload = async (phones: string[]) => {
    setBusy(true);
    setError("");
    try {
      const result = await setContacts(phones);
      setList(result.contacts);
      return result;
    } catch (err) {
      setError(errorText(err));
      return null;
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    const phones = savedPhones();
    if (phones.length) {
      setList(phones.map((phone) => ({ phone })));
      void upload(phones);
    }
  }, []);

  const add = async (e: Event) => {
    e.preventDefault();
    const value = phone.trim();
    if (!value) return;
    const result = await upload([...contacts.map((c) => c.phone).filter((p) => p !== value), value]);
    if (result?.invalid.includes(value)) setError(t("contacts.invalid"));
    else if (result) setPhone("");
  };

  return (
    <main class="pane page contacts">
      <h1>{t("contacts.title")}</h1>
      <p class="hint">{t("contacts.intro")}</p>
      <form onSubmit={add} class="inline-form">
        <label for="contact-phone">{t("contacts.phone")}</label>
        <input id="contact-phone" type="tel" dir="ltr" required value={phone} onInput={(e) => setPhone(e.currentTarget.value)} />
        <button type="submit" disabled={busy}>
          {t("contacts.add")}
        </button>
      </form>
      <p role="alert" class="error">
        {error}
      </p>
      {contacts.length === 0 ? (
        <p class="hint">{t("contacts.empty")}</p>
      ) : (
        <ul class="contact-list" aria-label={t("contacts.title")}>
          {contacts.map((c) => (
            <li key={c.phone} aria-label={c.name ? `${c.name}, ${c.phone}` : c.phone}>
              <span class="contact-name" dir="auto">
                {c.name ?? c.phone}
              </span>
              <span class="contact-phone" dir="ltr">
                {c.phone}
              </span>
              <span class="contact-status">{c.user_id ? t("contacts.onPayam") : t("contacts.notOnPayam")}</span>
              {c.user_id ? (
                <button type="button" onClick={() => void openDirect(c.user_id!).then((id) => navigate(`/chats/${id}`))}>
                  {t("contacts.message")}
                </button>
              ) : invited.includes(c.phone) ? (
                <span>{t("contacts.invited")}</span>
              ) : (
                <button type="button" onClick={() => void invite(c.phone).then(() => setInvited([...invited, c.phone])).catch((err) => setError(errorText(err)))}>
                  {t("contacts.invite")}
                </button>
              )}
              <button
                type="button"
                class="link-button"
                onClick={() => void upload(contacts.filter((x) => x.phone !== c.phone).map((x) => x.phone))}
              >
                {t("contacts.remove")}
              </button>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
