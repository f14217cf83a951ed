/// <reference types="vitest/config" />
// Vite builds the storefront (esbuild turns TSX into JS with React's automatic runtime: no plugin needed),
// Vitest runs its unit tests in jsdom. The dev server proxies /api to a local edge (STOREFRONT_API, default
// http://127.0.0.1:8080), so `npm run dev` talks to the platform the sandbox runs.
import { defineConfig } from "vitest/config";

export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: {
    target: "es2020",
    outDir: "dist",
    assetsDir: "assets",
    manifest: true, // dist/.vite/manifest.json: which chunks the first route loads (scripts/budget.mjs)
    sourcemap: false,
    modulePreload: { polyfill: false },
  },
  server: {
    host: "127.0.0.1",
    proxy: { "/api": process.env.STOREFRONT_API ?? "http://127.0.0.1:8080" },
  },
  test: {
    environment: "jsdom",
    globals: true,
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
  },
});
