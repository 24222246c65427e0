import { useState } from "preact/hooks";
import type { Lang } from "../i18n";
import { lang, t } from "../i18n";
import { signOut } from "../state/actions";
import { useStore } from "../state/hooks";
import { navigate, useRoute } from "../state/route";
import { ChatList } from "./ChatList";
import { Contacts } from "./Contacts";
import { Conversation } from "./Conversation";
import { OfflineBanner } from "./OfflineBanner";
import { applyLang } from "./prefs";
import { rememberLang } from "../i18n";
import { Settings } from "./Settings";
import { CallLayer } from "../calls/CallLayer";
import { SignIn } from "./SignIn";

export function App() {
  const state = useStore();
  const route = useRoute();
  const [, setLangState] = useState<Lang>(lang());
  const changeLang = (l: Lang) => {
    applyLang(l);
    rememberLang(l);
    setLangState(l);
  };

  if (state.phase === "loading") {
    return (
      <main class="center" aria-busy="true">
        <p>{t("status.connecting")}</p>
      </main>
    );
  }
  if (state.phase === "signedOut") return <SignIn onLang={changeLang} />;

  const link = (path: string, label: string, current: boolean) => (
    <a
      href={path}
      aria-current={current ? "page" : undefined}
      onClick={(e) => {
        e.preventDefault();
        navigate(path);
      }}
    >
      {label}
    </a>
  );
  const inChat = route.name === "chats" && route.chatId !== undefined;
  return (
    <div class={"shell" + (inChat ? " in-chat" : "")}>
      <header class="topbar">
        <span class="brand">{t("app.name")}</span>
        <nav aria-label={t("nav.main")}>
          {link("/", t("nav.chats"), route.name === "chats")}
          {link("/contacts", t("nav.contacts"), route.name === "contacts")}
          {link("/settings", t("nav.settings"), route.name === "settings")}
        </nav>
        <button type="button" class="link-button" onClick={() => void signOut().then(() => navigate("/"))}>
          {t("nav.signOut")}
        </button>
      </header>
      <OfflineBanner online={state.online} />
      {route.name === "chats" && (
        <div class="panes">
          <ChatList activeId={route.chatId} />
          {route.chatId !== undefined ? (
            <Conversation key={route.chatId} chatId={route.chatId} />
          ) : (
            <main class="pane placeholder">
              <p>{t("chats.pick")}</p>
            </main>
          )}
        </div>
      )}
      {route.name === "contacts" && <Contacts />}
      {route.name === "settings" && <Settings onLang={changeLang} />}
      <CallLayer />
    </div>
  );
}
