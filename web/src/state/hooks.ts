import { useEffect, useState } from "preact/hooks";
import { type State, store } from "./store";

/** Re-render when the store changes; returns the current state. */
export function useStore(): State {
  const [, setVersion] = useState(store.version);
  useEffect(() => store.subscribe(() => setVersion(store.version)), []);
  return store.state;
}
