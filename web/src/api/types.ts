import type { components } from "./schema";

type S = components["schemas"];
export type User = S["User"];
export type Plan = S["Plan"];
export type PlanDraft = S["PlanDraft"];
export type Tier = S["Tier"];
export type Subscription = S["Subscription"];
export type Invoice = S["Invoice"];
export type InvoiceLine = S["InvoiceLine"];
export type InvoicePreview = S["InvoicePreview"];
export type Payment = S["Payment"];
export type AuditEntry = S["AuditEntryView"];
export type Token = S["TokenView"];
export type CreatedToken = S["CreatedTokenView"];
export type SubscriptionWithInvoice = S["SubscriptionWithInvoice"];
