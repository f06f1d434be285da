// What the end-to-end run needs around the browser: a real billing-local (debug binary, test
// clock on, throwaway data dir, free port, serving web/dist), Debian's chromium driven by
// playwright-core, an axe-core check and a screenshot per page.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { chromium, type Browser, type Page } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";

const web = path.resolve(import.meta.dirname, "..");
const repo = path.resolve(web, "..");
const target =
  process.env.CARGO_TARGET_DIR ?? path.join(process.env.HOME ?? "/root", ".cache/billing/target");
export const screenshots = path.join(target, "web-e2e");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

export interface Billing {
  base: string;
  adminToken: string;
  stop: () => Promise<void>;
  /** An API call with the admin token, as a script or the producer of usage would make. */
  api: <T>(method: string, route: string, body?: unknown) => Promise<T>;
}

export async function startBilling(): Promise<Billing> {
  const port = await freePort();
  const data = mkdtempSync(path.join(tmpdir(), "billing-e2e-"));
  const adminToken = randomBytes(16).toString("hex");
  const bin = path.join(target, "debug", "billing-local");
  const child: ChildProcess = spawn(bin, [], {
    cwd: repo,
    env: {
      ...process.env,
      BILLING_ADDR: `127.0.0.1:${port}`,
      BILLING_DATA_DIR: path.join(data, "store"),
      BILLING_ADMIN_TOKEN: adminToken,
      BILLING_TEST_CLOCK: "true",
      // The runs happen when the test (the admin in the browser) asks for them.
      BILLING_INVOICE_RUN_EVERY: "0",
      BILLING_PAYMENT_RUN_EVERY: "0",
      BILLING_WEB_DIST: path.join(web, "dist"),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`billing-local exited: ${output}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`billing-local did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const api = async <T>(method: string, route: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${base}${route}`, {
      method,
      headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const stop = async () => {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    rmSync(data, { recursive: true, force: true });
  };
  return { base, adminToken, stop, api };
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
}

export interface Violation {
  page: string;
  id: string;
  impact: string;
  help: string;
  nodes: string[];
  summary: string;
}

/** axe-core on the page as it is now: the serious and critical violations. */
export async function axe(page: Page, name: string): Promise<Violation[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({
      page: name,
      id: v.id,
      impact: v.impact ?? "",
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
      summary: v.nodes[0]?.failureSummary ?? "",
    }));
}

export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(screenshots, { recursive: true });
  const file = path.join(screenshots, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}
