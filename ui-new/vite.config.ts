/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The demo app serves the build at /ui/; in `npm run dev` the API calls go to the demo app (VITE_API_TARGET).
const api = process.env["VITE_API_TARGET"] ?? "http://127.0.0.1:8000";
const proxied = ["/auth", "/chat", "/images", "/items", "/fail", "/api", "/analytics", "/monitoring"];

export default defineConfig({
  base: "/ui/",
  plugins: [react()],
  server: { proxy: Object.fromEntries(proxied.map((path) => [path, { target: api, changeOrigin: false }])) },
  build: { outDir: "dist", sourcemap: true },
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.ts", "test/**/*.test.tsx"],
    restoreMocks: true,
  },
});
