// Shows the call screen over the app while a call rings, runs or has just ended; the screen's
// code (and the engine's) is fetched only then.
import type { FunctionComponent } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useCall } from "./index";

type Screen = FunctionComponent;

export function CallLayer() {
  const call = useCall();
  const [Screen, setScreen] = useState<Screen | null>(null);
  useEffect(() => {
    if (call && !Screen) void import("./CallScreen").then((m) => setScreen(() => m.CallScreen));
  }, [call !== null]);
  if (!call || !Screen) return null;
  return <Screen />;
}
