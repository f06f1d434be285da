import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API to a running billing-local (BILLING_API, default :8080), so the
// UI talks to its own origin in development exactly as it does when billing-local serves it.
const api = process.env.BILLING_API ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  server: { proxy: { "/v1": api, "/openapi.json": api, "/healthz": api } },
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  test: { include: ["src/**/*.test.ts", "src/**/*.test.tsx"], environment: "node" },
});
