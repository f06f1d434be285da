import { createRouter } from "@tanstack/react-router";
import { rootRoute } from "./routes/__root";
import { Route as signin } from "./routes/signin";
import { Route as dashboard } from "./routes/dashboard";
import { Route as customers } from "./routes/customers";
import { Route as customer } from "./routes/customer";
import { Route as plans } from "./routes/plans";
import { Route as planNew } from "./routes/plan-new";
import { Route as plan } from "./routes/plan";
import { Route as subscriptions } from "./routes/subscriptions";
import { Route as subscription } from "./routes/subscription";
import { Route as invoices } from "./routes/invoices";
import { Route as invoice } from "./routes/invoice";
import { Route as invoicePrint } from "./routes/invoice-print";
import { Route as payments } from "./routes/payments";
import { Route as usage } from "./routes/usage";
import { Route as audit } from "./routes/audit";
import { Route as tokens } from "./routes/tokens";
import { Route as testClock } from "./routes/test-clock";

const routeTree = rootRoute.addChildren([
  signin,
  dashboard,
  customers,
  customer,
  plans,
  planNew,
  plan,
  subscriptions,
  subscription,
  invoices,
  invoice,
  invoicePrint,
  payments,
  usage,
  audit,
  tokens,
  testClock,
]);

export const router = createRouter({
  routeTree,
  defaultPreload: "intent",
  scrollRestoration: true,
});

declare module "@tanstack/react-router" {
  interface Register {
    router: typeof router;
  }
}
