// The read-only guard for controls: every button, form or menu item that changes something is
// wrapped in <AdminOnly>, which renders nothing for a read token (lib/session's canMutate,
// which the API client also applies to every non-GET request).
import type { ReactNode } from "react";
import { canMutate } from "../lib/session";
import { useSession } from "./SessionProvider";

export function useCanMutate(): boolean {
  return canMutate(useSession().session);
}

export function AdminOnly({ children }: { children: ReactNode }) {
  return useCanMutate() ? <>{children}</> : null;
}
