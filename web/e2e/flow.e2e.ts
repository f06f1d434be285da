// The admin's billing cycle in a real browser against a real billing-local: sign in, create a
// tiered plan, a customer, a subscription; usage through the API; the clock moved and the
// invoice run started from the UI; the invoice's lines and totals; pay; payments history; a
// plan change whose previewed invoice is the one it creates; then a read token sees no
// mutation. axe-core runs on every page and every page is saved as a screenshot.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import {
  axe,
  launchBrowser,
  screenshot,
  screenshots,
  startBilling,
  type Billing,
  type Violation,
} from "./harness";

let billing: Billing;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const violations: Violation[] = [];
const state = { userId: "", subscriptionId: "", renewalId: "", readToken: "" };

/** Every page the test visits: checked by axe and saved as a screenshot. */
async function visited(name: string, on: Page = page) {
  await on.waitForLoadState("networkidle");
  // Move the pointer away so no hover state is what axe or the picture sees, and let
  // transitions (a closing dialog fading out) finish.
  await on.mouse.move(0, 0);
  await on.waitForFunction(() => document.getAnimations().length === 0, undefined, {
    timeout: 5_000,
  });
  violations.push(...(await axe(on, name)));
  // A dialog is fixed to the viewport: a full-page picture would cut it apart.
  const dialog = (await on.getByRole("dialog").count()) > 0;
  await screenshot(on, name, !dialog);
}

async function pick(label: string, option: string | RegExp, on: Page = page) {
  await on
    .getByRole("textbox", { name: label, exact: true })
    .or(on.getByRole("combobox", { name: label, exact: true }))
    .first()
    .click();
  await on.getByRole("option", { name: option }).click();
}

/** Signs in with the keyboard alone: the token field has focus, Enter submits. */
async function signIn(on: Page, token: string) {
  await on.goto(`${billing.base}/`);
  await on.getByLabel("API token").waitFor();
  await on.keyboard.type(token);
  await on.keyboard.press("Enter");
  await on.getByRole("heading", { name: "Dashboard" }).waitFor();
}

beforeAll(async () => {
  billing = await startBilling();
  await billing.api("POST", "/v1/test-clock", { now: "2027-01-01T00:00:00Z" });
  browser = await launchBrowser();
  context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    reducedMotion: "reduce",
  });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
});

// A failed step leaves a picture of what the browser showed.
afterEach(async (context) => {
  if (context.task.result?.state === "fail") {
    await screenshot(page, `failed-${context.task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}`);
  }
});

afterAll(async () => {
  await browser.close();
  await billing.stop();
  console.log(`web-e2e screenshots: ${screenshots}`);
});

describe("admin UI end to end", () => {
  it("signs in with the admin token", async () => {
    await page.goto(`${billing.base}/plans`);
    await page.getByLabel("API token").waitFor();
    expect(page.url()).toContain("/signin");
    await visited("signin");
    await page.getByLabel("API token").fill("wrong-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("This token is not valid").waitFor();
    await page.getByLabel("API token").fill(billing.adminToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    // Back where the admin was going.
    await page.getByRole("heading", { name: "Plans" }).waitFor();
    expect(page.url()).toContain("/plans");
  });

  it("creates a graduated plan with the tier editor, its live preview matching BILLING.md", async () => {
    await page.getByRole("link", { name: "New plan" }).click();
    await page.getByRole("heading", { name: "New plan" }).waitFor();
    await page.getByRole("textbox", { name: "Code", exact: true }).fill("pro");
    await page.getByRole("textbox", { name: "Name", exact: true }).fill("Pro");
    await page.getByRole("textbox", { name: /Fee per period/ }).fill("29.00");
    await page.getByRole("button", { name: "Add usage charge" }).click();
    await page.getByRole("textbox", { name: "Metric", exact: true }).fill("api_calls");
    await page.getByRole("button", { name: "Add tier" }).click();
    await page.getByRole("button", { name: "Add tier" }).click();
    const upTo = page.getByRole("textbox", { name: "Up to (units)" });
    const unit = page.getByRole("textbox", { name: "Unit price (¢)" });
    await upTo.nth(0).fill("100000");
    await unit.nth(0).fill("0");
    await upTo.nth(1).fill("1000000");
    await unit.nth(1).fill("0.05");
    await unit.nth(2).fill("0.02");
    await page.getByRole("textbox", { name: "Preview quantity" }).fill("1250000");
    const preview = page.getByTestId("tier-preview");
    await expect.poll(() => preview.getByTestId("preview-total").innerText()).toBe("$500.00");
    const amounts = await preview.locator("tbody tr td:last-child").allInnerTexts();
    expect(amounts).toEqual(["$0.00", "$450.00", "$50.00", "$500.00"]);
    await visited("plan-new");

    // A bad tier is refused by the server, and the message stands beside the field it names.
    await upTo.nth(1).fill("50");
    await page.getByRole("button", { name: "Create plan" }).click();
    // The envelope's param names usage_charges[0].tiers[1].up_to: its message is under that input.
    const fieldError = page.getByTestId("tier-0-1").locator(".mantine-InputWrapper-error");
    await fieldError.waitFor();
    expect(await fieldError.innerText()).not.toBe("");
    await visited("plan-new-error");
    await upTo.nth(1).fill("1000000");

    await page.getByRole("button", { name: "Create plan" }).click();
    await page.getByRole("heading", { name: /^Pro/ }).waitFor();
    expect(page.url()).toContain("/plans/pro");
    await visited("plan");

    // The plan a customer changes to later, made through the API.
    await billing.api("POST", "/v1/plans", {
      code: "scale",
      name: "Scale",
      amount_cents: 9900,
      interval: "month",
      usage_charges: [
        {
          metric: "api_calls",
          mode: "volume",
          tiers: [
            { up_to: 1000000, unit_amount_decimal: "0.04" },
            { up_to: null, unit_amount_decimal: "0.01", flat_amount_cents: 500 },
          ],
        },
      ],
    });
    await page.getByRole("link", { name: "Plans", exact: true }).click();
    await page.getByRole("cell", { name: "scale", exact: true }).waitFor();
    await visited("plans");
  });

  it("creates a customer and subscribes them", async () => {
    await page.getByRole("link", { name: "Customers" }).click();
    await page.getByRole("button", { name: "New customer" }).click();
    await page.getByRole("textbox", { name: "Email", exact: true }).fill("ada@example.com");
    await page.getByRole("textbox", { name: "Name", exact: true }).fill("Ada Lovelace");
    await page.getByRole("button", { name: "Create customer" }).click();
    await page.getByRole("heading", { name: "Ada Lovelace" }).waitFor();
    state.userId = /\/customers\/(usr_[^/?]+)/.exec(page.url())?.[1] ?? "";
    expect(state.userId).toMatch(/^usr_/);

    await page.getByRole("button", { name: "New subscription" }).click();
    await pick("Plan", /Pro \(pro\)/);
    await page.getByRole("textbox", { name: "Trial days (override)" }).fill("0");
    await page.getByRole("button", { name: "Subscribe" }).click();
    await page.getByRole("heading", { name: /Subscription/ }).waitFor();
    state.subscriptionId = /\/subscriptions\/(sub_[^/?]+)/.exec(page.url())?.[1] ?? "";
    expect(state.subscriptionId).toMatch(/^sub_/);
    await page.getByRole("cell", { name: "INV-000001" }).waitFor();
    await visited("subscription");
  });

  it("ingests usage through the API and shows it on the customer page", async () => {
    await billing.api("POST", "/v1/usage", {
      events: [
        { id: "e1", user_id: state.userId, metric: "api_calls", quantity: 1000000 },
        { id: "e2", user_id: state.userId, metric: "api_calls", quantity: 250000 },
      ],
    });
    await expect
      .poll(async () => {
        const s = await billing.api<{ quantity: number }>(
          "GET",
          `/v1/usage/summary?user_id=${state.userId}&metric=api_calls&from=2027-01-01T00:00:00Z&to=2027-02-01T00:00:00Z`,
        );
        return s.quantity;
      })
      .toBe(1250000);
    await page.goto(`${billing.base}/customers/${state.userId}?tab=usage`);
    await page.getByRole("cell", { name: "1,250,000" }).waitFor();
    await visited("customer-usage");
    await page.goto(
      `${billing.base}/usage?user_id=${state.userId}&metric=api_calls&from=2026-12-30&to=2027-01-02`,
    );
    await expect.poll(() => page.getByTestId("usage-total").innerText()).toBe("1,250,000");
    await visited("usage-explorer");
    // The upcoming invoice prices the usage so far: 0 + 450.00 + 50.00, and next period's fee.
    await page.goto(`${billing.base}/subscriptions/${state.subscriptionId}`);
    await expect.poll(() => page.getByTestId("amount-due").first().innerText()).toBe("$529.00");
  });

  it("moves the test clock and runs invoices from the UI", async () => {
    await page.getByRole("link", { name: "Test clock" }).click();
    await page.getByTestId("test-clock-now").waitFor();
    await page.getByRole("button", { name: "+1 month" }).click();
    await expect.poll(() => page.getByTestId("test-clock-now").innerText()).toContain("1 Feb 2027");
    await page.getByRole("button", { name: "Run invoices" }).click();
    await page.getByText("invoice run: 1 renewed, 1 invoices created").waitFor();
    await visited("test-clock");
  });

  it("opens the renewal invoice: every line and the totals", async () => {
    await page.getByRole("link", { name: "Invoices" }).click();
    await page.getByRole("link", { name: "INV-000002" }).click();
    await page.getByTestId("invoice-number").waitFor();
    state.renewalId = /\/invoices\/(inv_[^/?]+)/.exec(page.url())?.[1] ?? "";
    const rows = page.getByTestId("invoice-lines").locator("tbody tr");
    const lines = await rows.evaluateAll((trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll("td")).map((td) => td.textContent.trim())),
    );
    // kind, tier, quantity, unit price, amount of each line (BILLING.md's graduated example).
    expect(lines.map((cells) => [cells[1], cells[2], cells[3], cells[4], cells[6]])).toEqual([
      ["usage", "1", "100,000", "$0.00", "$0.00"],
      ["usage", "2", "900,000", "$0.0005", "$450.00"],
      ["usage", "3", "250,000", "$0.0002", "$50.00"],
      ["base fee", "—", "—", "—", "$29.00"],
    ]);
    expect(await page.getByTestId("subtotal").innerText()).toBe("$529.00");
    expect(await page.getByTestId("amount-due").innerText()).toBe("$529.00");
    await visited("invoice");
    await page.getByRole("link", { name: "Printable view" }).click();
    await page.getByRole("heading", { name: "Invoice INV-000002" }).waitFor();
    await visited("invoice-print");
    await page.emulateMedia({ media: "print" });
    await screenshot(page, "invoice-print-media");
    await page.emulateMedia({ media: "screen" });
    await page.getByRole("link", { name: "Back to invoice" }).click();
  });

  it("pays it and sees the payment in the history", async () => {
    await page.getByRole("button", { name: "Pay now" }).click();
    await page.getByTestId("invoice-number").getByText("paid").waitFor();
    await page.getByRole("link", { name: "Payments" }).click();
    const row = page.locator(`tr[data-invoice="${state.renewalId}"]`);
    await row.waitFor();
    expect(await row.innerText()).toContain("$529.00");
    expect((await row.innerText()).toLowerCase()).toContain("succeeded");
    await visited("payments");
  });

  it("changes plan now, and the previewed invoice is the one the change creates", async () => {
    // Mid-period, so there is a proration credit.
    await page.getByRole("link", { name: "Test clock" }).click();
    await page.getByRole("button", { name: "+1 day" }).click();
    await expect.poll(() => page.getByTestId("test-clock-now").innerText()).toContain("2 Feb 2027");
    // Usage inside the closing part of the period [Feb 1, Feb 2): billed by the change.
    await billing.api("POST", "/v1/usage", {
      events: [
        {
          id: "e3",
          user_id: state.userId,
          metric: "api_calls",
          quantity: 300000,
          timestamp: "2027-02-01T12:00:00Z",
        },
      ],
    });
    await page.goto(`${billing.base}/subscriptions/${state.subscriptionId}`);
    await page.getByRole("button", { name: "Change plan" }).click();
    const dialog = page.getByRole("dialog");
    await pick("New plan", /Scale \(scale\)/);
    await dialog.getByRole("radio", { name: "Now (prorated)" }).check();
    const preview = dialog.getByTestId("change-preview");
    await preview.getByTestId("invoice-lines").waitFor();
    const read = async (scope: ReturnType<Page["getByTestId"]>) => ({
      lines: await scope.getByTestId("invoice-lines").locator("tbody tr").allInnerTexts(),
      subtotal: await scope.getByTestId("subtotal").innerText(),
      due: await scope.getByTestId("amount-due").innerText(),
    });
    // The usage of the day is priced by Pro (in arrears); wait until it is aggregated.
    await expect
      .poll(async () => (await read(preview)).lines.join("\n"))
      .toContain("tier 2: 200,000");
    const previewed = await read(preview);
    expect(previewed.lines.some((l) => l.includes("proration credit"))).toBe(true);
    await visited("change-plan-preview");
    await dialog.getByRole("button", { name: "Confirm change" }).click();
    await page.getByTestId("invoice-number").waitFor();
    const created = await read(page.getByRole("main"));
    expect(created).toEqual(previewed);
    await visited("change-plan-invoice");
  });

  it("shows the remaining pages: dashboard, customers, subscriptions, audit, tokens", async () => {
    await page.getByRole("link", { name: "Dashboard" }).click();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    // One active subscription, now on Scale at $99.00 a month.
    await expect.poll(() => page.getByTestId("mrr").innerText()).toBe("$99.00");
    await visited("dashboard");
    await page.getByRole("link", { name: "Customers" }).click();
    await page.getByRole("link", { name: state.userId }).waitFor();
    await visited("customers");
    // Search by email (exact), by name prefix and by id.
    const search = page.getByRole("textbox", { name: "Search by email, name or id" });
    for (const term of ["ADA@example.com", "ada lov", state.userId]) {
      await search.fill(term);
      await page.getByRole("button", { name: "Search" }).click();
      await expect
        .poll(() => page.url())
        .toContain(`q=${encodeURIComponent(term).replace(/%20/g, "+")}`);
      await page.getByRole("link", { name: state.userId }).waitFor();
    }
    await search.fill("nobody@example.com");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByText("No customer found.").waitFor();
    await page.goto(`${billing.base}/customers/${state.userId}`);
    await page.getByRole("heading", { name: "Ada Lovelace" }).waitFor();
    await visited("customer");
    await page.goto(`${billing.base}/customers/${state.userId}?tab=audit`);
    await page.getByText("user.created").first().waitFor();
    // The customer's timeline holds their invoices' and subscriptions' entries too.
    await page.getByText("invoice.paid").first().waitFor();
    await page.getByText("subscription.plan_changed").first().waitFor();
    await visited("customer-audit");
    await page.getByRole("link", { name: "Subscriptions" }).click();
    await page.getByRole("link", { name: state.subscriptionId }).waitFor();
    await visited("subscriptions");
    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByText("subscription.plan_changed").first().waitFor();
    await visited("audit");

    await page.getByRole("link", { name: "API tokens" }).click();
    await page.getByRole("button", { name: "New token" }).click();
    await page.getByRole("textbox", { name: "Name", exact: true }).fill("support");
    await page.getByRole("button", { name: "Create token" }).click();
    state.readToken = (await page.getByTestId("token-secret").innerText()).trim();
    expect(state.readToken.length).toBeGreaterThan(10);
    await visited("token-created");
    await page.getByRole("button", { name: "Done" }).click();
    await page.getByRole("cell", { name: "support" }).waitFor();
    await visited("tokens");
  });

  it("shows a declined payment with its failure code, attempt number and next retry", async () => {
    const grace = await billing.api<{ id: string }>("POST", "/v1/users", {
      email: "grace@example.com",
      name: "Grace Hopper",
      payment_method: "pm_card_declined",
    });
    await billing.api("POST", "/v1/subscriptions", {
      user_id: grace.id,
      plan_code: "pro",
      trial_days: 0,
    });
    await page.getByRole("link", { name: "Test clock" }).click();
    await page.getByRole("button", { name: "Run payments" }).click();
    await page.getByText(/payment run: \d+ attempted, \d+ succeeded, 1 failed/).waitFor();
    await page.goto(`${billing.base}/payments?user_id=${grace.id}`);
    const row = page.locator("tbody tr").first();
    await row.waitFor();
    const cells = await row.locator("td").allInnerTexts();
    // amount, status, attempt, failure code, next retry (finalization + 1 day)
    expect([cells[3], cells[4]?.toLowerCase(), cells[5], cells[6], cells[7]]).toEqual([
      "$29.00",
      "failed",
      "1",
      "card_declined",
      "3 Feb 2027, 00:00 UTC",
    ]);
    await visited("payments-failed");
  });

  it("adjusts a paid invoice (credit note, debit note), voids and archives with confirmation", async () => {
    // The debit note first: a credit balance would pay it at once.
    await page.goto(`${billing.base}/invoices/${state.renewalId}`);
    await page.getByRole("button", { name: "Debit note" }).click();
    let dialog = page.getByRole("dialog");
    await dialog.getByRole("textbox", { name: /Amount/ }).fill("5.00");
    await dialog.getByRole("textbox", { name: "Reason", exact: true }).fill("late fee");
    await dialog.getByRole("button", { name: "Create debit note" }).click();
    // The debit note is a new open invoice with one adjustment line naming the original.
    await page.getByTestId("invoice-number").getByText("open").waitFor();
    const debit = await page.getByTestId("invoice-lines").locator("tbody tr").allInnerTexts();
    expect(debit).toHaveLength(1);
    expect(debit[0]).toContain("adjustment");
    expect(debit[0]).toContain("$5.00");
    await page.getByRole("button", { name: "Void" }).click();
    await page.getByRole("dialog").getByText("This cannot be undone").waitFor();
    await visited("void-confirm");
    await page.getByRole("dialog").getByRole("button", { name: "Void invoice" }).click();
    await page.getByTestId("invoice-number").getByText("void").waitFor();

    await page.goto(`${billing.base}/invoices/${state.renewalId}`);
    await page.getByRole("button", { name: "Credit note" }).click();
    dialog = page.getByRole("dialog");
    // Over the cap (what was paid): the API's message stands beside the amount.
    await dialog.getByRole("textbox", { name: /Amount/ }).fill("1000.00");
    await dialog.getByRole("textbox", { name: "Reason", exact: true }).fill("goodwill");
    await dialog.getByRole("button", { name: "Create credit note" }).click();
    await dialog.locator(".mantine-InputWrapper-error").first().waitFor();
    await visited("credit-note-error");
    await dialog.getByRole("textbox", { name: /Amount/ }).fill("10.00");
    await dialog.getByRole("button", { name: "Create credit note" }).click();
    await dialog.waitFor({ state: "hidden" });
    await page.goto(`${billing.base}/customers/${state.userId}`);
    await expect.poll(() => page.getByTestId("credit-balance").innerText()).toBe("$10.00");

    await page.goto(`${billing.base}/plans`);
    await page
      .locator("tr", { hasText: "scale" })
      .getByRole("button", { name: "Archive" })
      .waitFor();
    await page.locator("tr", { hasText: "Pro" }).getByRole("button", { name: "Archive" }).click();
    // Cancel keeps it; confirm archives.
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("dialog").waitFor({ state: "hidden" });
    expect(await page.locator("tr", { hasText: "Pro" }).innerText()).not.toMatch(/archived/i);
    await page.locator("tr", { hasText: "Pro" }).getByRole("button", { name: "Archive" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Archive plan" }).click();
    await expect
      .poll(async () => (await page.locator("tr", { hasText: "Pro" }).innerText()).toLowerCase())
      .toContain("archived");
  });

  it("cancels at period end, then now, each after confirmation", async () => {
    const { data } = await billing.api<{ data: { id: string; user_id: string }[] }>(
      "GET",
      "/v1/subscriptions?status=past_due",
    );
    const id = data[0]?.id ?? "";
    await page.goto(`${billing.base}/subscriptions/${id}`);
    await page.getByRole("button", { name: "Cancel at period end" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel at period end" }).click();
    await page.getByText("Cancels at the end of the current period.").waitFor();
    await page.getByRole("button", { name: "Cancel now" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel now" }).click();
    await page
      .getByRole("heading", { name: /Subscription/ })
      .getByText("canceled")
      .waitFor();
    expect(await page.getByRole("button", { name: "Change plan" }).count()).toBe(0);
    await visited("subscription-canceled");
  });

  it("pages through a list with the API's cursors, kept in the URL", async () => {
    for (let i = 0; i < 21; i++) {
      await billing.api("POST", "/v1/users", { email: `user${i}@example.com` });
    }
    await page.goto(`${billing.base}/customers`);
    const rows = page.getByRole("table", { name: "Customers" }).locator("tbody tr");
    await expect.poll(() => rows.count()).toBe(20);
    const first = await rows.first().innerText();
    await page.getByRole("button", { name: "Next page" }).click();
    await expect.poll(() => page.url()).toContain("cursor=");
    await expect.poll(async () => (await rows.first().innerText()) !== first).toBe(true);
    // The page is a link: opening the URL again shows the same page.
    const url = page.url();
    await page.goto(url);
    await expect.poll(async () => (await rows.count()) > 0).toBe(true);
    expect(await rows.first().innerText()).not.toBe(first);
    await page.getByRole("button", { name: "First page" }).click();
    await expect.poll(() => rows.first().innerText()).toBe(first);
  });

  it("is readable at 375 px", async () => {
    const phone = await browser.newContext({
      viewport: { width: 375, height: 800 },
      reducedMotion: "reduce",
    });
    const small = await phone.newPage();
    await signIn(small, billing.adminToken);
    for (const [name, route] of [
      ["mobile-dashboard", "/"],
      ["mobile-customers", "/customers"],
      ["mobile-customer", `/customers/${state.userId}`],
      ["mobile-plans", "/plans"],
      ["mobile-plan-new", "/plans/new"],
      ["mobile-subscription", `/subscriptions/${state.subscriptionId}`],
      ["mobile-invoices", "/invoices"],
      ["mobile-invoice", `/invoices/${state.renewalId}`],
      ["mobile-payments", "/payments"],
      ["mobile-usage", `/usage?user_id=${state.userId}&metric=api_calls`],
      ["mobile-audit", "/audit"],
      ["mobile-tokens", "/tokens"],
      ["mobile-test-clock", "/test-clock"],
    ] as const) {
      await small.goto(`${billing.base}${route}`);
      await small.getByRole("heading", { level: 1 }).waitFor();
      // Nothing wider than the screen but the tables, which scroll inside their own box.
      const overflow = await small.evaluate(() => document.documentElement.scrollWidth);
      expect(overflow).toBeLessThanOrEqual(375);
      await visited(name, small);
    }
    await phone.close();
  });

  it("a read token sees every page and no mutation control", async () => {
    const readContext = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      reducedMotion: "reduce",
    });
    const reader = await readContext.newPage();
    await signIn(reader, state.readToken);
    await reader.getByText("read only").waitFor();
    const mutations =
      /^(New customer|New plan|New subscription|Edit|Change plan|Cancel now|Cancel at period end|Pay now|Void|Credit note|Debit note|Archive|Run invoices|Run payments|New token|Revoke)$/;
    const routes = [
      ["read-dashboard", "/"],
      ["read-customers", "/customers"],
      ["read-customer", `/customers/${state.userId}`],
      ["read-plans", "/plans"],
      ["read-subscriptions", "/subscriptions"],
      ["read-subscription", `/subscriptions/${state.subscriptionId}`],
      ["read-invoices", "/invoices"],
      ["read-invoice", `/invoices/${state.renewalId}`],
      ["read-payments", "/payments"],
      ["read-audit", "/audit"],
    ] as const;
    for (const [name, route] of routes) {
      await reader.goto(`${billing.base}${route}`);
      await reader.getByRole("heading", { level: 1 }).waitFor();
      await reader.waitForLoadState("networkidle");
      expect(await reader.getByRole("button", { name: mutations }).count(), route).toBe(0);
      expect(await reader.getByRole("link", { name: mutations }).count(), route).toBe(0);
      await visited(name, reader);
    }
    expect(await reader.getByRole("link", { name: "Test clock" }).count()).toBe(0);
    expect(await reader.getByRole("link", { name: "API tokens" }).count()).toBe(0);

    // The admin revokes the token (after confirming); the reader is sent back to sign-in.
    await page.goto(`${billing.base}/tokens`);
    await page
      .locator("tr", { hasText: "support" })
      .getByRole("button", { name: "Revoke" })
      .click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke token" }).click();
    await page
      .locator("tr", { hasText: "support" })
      .getByText(/revoked/)
      .waitFor();
    await reader.goto(`${billing.base}/invoices`);
    await reader.getByLabel("API token").waitFor();
    expect(reader.url()).toContain("/signin");
    await readContext.close();
  });

  it("no page has a serious or critical accessibility violation", () => {
    expect(violations).toEqual([]);
  });
});
