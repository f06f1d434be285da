import { useState } from "react";
import { Button, Center, Paper, PasswordInput, Stack, Text, Title } from "@mantine/core";
import { createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { api } from "../api/client";
import { useSession } from "../components/SessionProvider";
import type { Role } from "../lib/session";
import { str } from "../lib/search";

/**
 * What a token may do, asked of the API itself: listing tokens needs `admin`, listing plans
 * needs `read`. Anything else cannot use this UI.
 */
async function roleOf(token: string): Promise<{ role: Role } | { error: string }> {
  const headers = { Authorization: `Bearer ${token}` };
  const admin = await api.GET("/v1/tokens", { params: { query: { limit: 1 } }, headers });
  if (admin.response.ok) return { role: "admin" };
  if (admin.response.status === 401)
    return { error: "This token is not valid (unknown or revoked)." };
  const read = await api.GET("/v1/plans", { params: { query: { limit: 1 } }, headers });
  if (read.response.ok) return { role: "read" };
  return { error: "This token has neither the admin nor the read scope." };
}

function SignIn() {
  const { signIn } = useSession();
  const navigate = useNavigate();
  const { redirect } = Route.useSearch();
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      const found = await roleOf(token.trim());
      if ("role" in found) {
        signIn({ token: token.trim(), role: found.role });
        await navigate({
          to: redirect?.startsWith("/") && !redirect.startsWith("//") ? redirect : "/",
        });
      } else {
        setError(found.error);
      }
    } catch {
      setError("The API could not be reached.");
    } finally {
      setBusy(false);
    }
  };

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder p="xl" w="100%" maw={420} component="main">
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void submit();
          }}
        >
          <Stack>
            <Title order={1} size="h3">
              Billing admin
            </Title>
            <Text size="sm" c="dimmed">
              Sign in with an API token. An admin token can change things; a read token can only
              look. The token stays in this tab and is sent only to this site.
            </Text>
            <PasswordInput
              label="API token"
              value={token}
              onChange={(e) => setToken(e.currentTarget.value)}
              error={error}
              required
              autoComplete="off"
              autoFocus
            />
            <Button type="submit" loading={busy} disabled={token.trim() === ""}>
              Sign in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/signin",
  validateSearch: (search: Record<string, unknown>): { redirect?: string } => ({
    redirect: str(search.redirect),
  }),
  component: SignIn,
});
