import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "./client";
import { PAGE } from "./keys";

export interface PaymentFilters {
  user_id?: string | undefined;
  invoice_id?: string | undefined;
  cursor?: string | undefined;
}

export function usePayments(filters: PaymentFilters, limit = PAGE) {
  return useQuery({
    queryKey: ["payments", "list", filters, limit],
    queryFn: () => unwrap(api.GET("/v1/payments", { params: { query: { ...filters, limit } } })),
  });
}
