import { Navigate, Outlet, createRootRoute, useRouterState } from "@tanstack/react-router";
import { Shell } from "../components/Shell";
import { useSession } from "../components/SessionProvider";

function Root() {
  const { session } = useSession();
  const location = useRouterState({ select: (s) => s.location });
  if (session === null && location.pathname !== "/signin") {
    return <Navigate to="/signin" search={{ redirect: location.href }} replace />;
  }
  // Sign-in and the printable invoice are pages of their own, without the navigation.
  if (location.pathname === "/signin" || location.pathname.endsWith("/print")) return <Outlet />;
  return (
    <Shell>
      <Outlet />
    </Shell>
  );
}

export const rootRoute = createRootRoute({ component: Root });
