import { defineConfig } from "vitest/config";
import preact from "@preact/preset-vite";

// The build goes straight into the Python package (src/payam/web_dist), which `payam serve`
// serves at /; setup.py runs this build for a wheel and for `pip install -e .`.
export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: "../src/payam/web_dist",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    // One small app: no preload helper script, nothing inline (the CSP allows no inline script).
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    // The service worker is its own entry, at /sw.js (not hashed: its address is its identity,
    // and its scope is the whole app); everything else is hashed under assets/.
    rollupOptions: {
      input: { index: "index.html", sw: "src/push/sw.ts" },
      output: {
        entryFileNames: (chunk) => (chunk.name === "sw" ? "sw.js" : "assets/[name]-[hash].js"),
      },
    },
  },
  server: { proxy: { "/v1": { target: "http://127.0.0.1:8080", ws: true } } },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
