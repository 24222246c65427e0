import "@fontsource/vazirmatn/400.css";
import "@fontsource/vazirmatn/700.css";
import "./styles.css";
import { render } from "preact";
import { App } from "./views/App";
import { applyLang, applyTheme, initialLang, initialTheme } from "./views/prefs";
import { boot } from "./state/actions";

applyLang(initialLang());
applyTheme(initialTheme());
render(<App />, document.getElementById("app")!);
void boot();
