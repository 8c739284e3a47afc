import { defineConfig } from "vitest/config";

// React needs no plugin: esbuild/oxc compiles TSX with the automatic JSX runtime (tsconfig "jsx").
// Fast refresh is the only thing the plugin would add, and the console is built, not served, in
// `make run`.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    // Vite inlines small assets as data: URIs; the page's CSP allows data: for images only.
    assetsInlineLimit: 0,
  },
  server: {
    // `npm run dev` against a local API: the console's fetches stay same-origin through the proxy.
    proxy: { "/v1": "http://127.0.0.1:8000", "/p": "http://127.0.0.1:8000" },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
