/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// The page is built into the Go package that embeds it
// (internal/apinode/web/bundle/app, ignored by git); `npm run dev` serves it
// with the API of a `counter dev` on :3000 behind Vite's proxy.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: {
    outDir: "../internal/apinode/web/bundle/app",
    emptyOutDir: true,
    assetsDir: "assets",
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      "^/[^/]+/(videos|generator|cluster|audit|config)": "http://localhost:3000",
      "/socket.io": { target: "http://localhost:3000", ws: true },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
