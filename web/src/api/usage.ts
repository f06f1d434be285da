import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "./client";

export function useUsageSummary(
  params: { user_id: string; metric: string; from: string; to: string },
  enabled = true,
) {
  return useQuery({
    queryKey: ["usage", "summary", params],
    enabled,
    queryFn: () => unwrap(api.GET("/v1/usage/summary", { params: { query: params } })),
  });
}

export type Bucket = "hour" | "day";

export function useUsageSeries(
  params: { user_id: string; metric: string; from: string; to: string; bucket: Bucket },
  enabled = true,
) {
  return useQuery({
    queryKey: ["usage", "series", params],
    enabled,
    queryFn: () => unwrap(api.GET("/v1/usage/series", { params: { query: params } })),
  });
}
