// The group, channel, statistics, privacy and operator screens, each loaded on first use
// (dynamic import), so the first load holds only the chat client.
import type { Route } from "../../state/route";
import { lazy } from "./common";

const NewGroup = lazy(() => import("./Groups").then((m) => m.NewGroup));
const ChatInfo = lazy(() => import("./Groups").then((m) => m.ChatInfo));
const JoinLink = lazy(() => import("./Groups").then((m) => m.JoinLink));
const ChannelSearch = lazy(() => import("./Channels").then((m) => m.ChannelSearch));
const ChannelPage = lazy(() => import("./Channels").then((m) => m.ChannelPage));
const StatsPage = lazy(() => import("./Stats").then((m) => m.StatsPage));
const PrivacyCentre = lazy(() => import("./Privacy").then((m) => m.PrivacyCentre));
const AdminConsole = lazy(() => import("./Admin").then((m) => m.AdminConsole));
export const ProfileSettings = lazy(() => import("./Profile").then((m) => m.ProfileSettings), true);
export { Receipt } from "./Receipt";

export function MoreScreens({ route }: { route: Route }) {
  switch (route.name) {
    case "newGroup":
      return <NewGroup />;
    case "join":
      return <JoinLink token={route.token} />;
    case "chatInfo":
      return <ChatInfo key={route.chatId} chatId={route.chatId} />;
    case "stats":
      return <StatsPage key={route.chatId} chatId={route.chatId} />;
    case "channels":
      return <ChannelSearch />;
    case "channel":
      return <ChannelPage key={route.chatId} chatId={route.chatId} />;
    case "privacy":
      return <PrivacyCentre />;
    case "admin":
      return <AdminConsole />;
    default:
      return null;
  }
}
