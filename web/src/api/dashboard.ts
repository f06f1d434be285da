import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "./client";

/** The dashboard's figures, computed by the API from counters kept with every change. */
export function useDashboard(currency: string) {
  return useQuery({
    queryKey: ["dashboard", currency],
    refetchInterval: 60_000,
    queryFn: () => unwrap(api.GET("/v1/dashboard", { params: { query: { currency } } })),
  });
}
