import { defineConfig } from "vitest/config";

// The end-to-end run: one real billing-local, one browser, the steps in order.
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    fileParallelism: false,
    sequence: { concurrent: false },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The browser and the server share 2 cores with the rest of make test: poll patiently.
    expect: { poll: { timeout: 15_000, interval: 100 } },
  },
});
