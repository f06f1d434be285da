import { createRoute } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { PageTitle } from "../components/ui";
import { Text } from "@mantine/core";

function Dashboard() {
  return (
    <>
      <PageTitle>Dashboard</PageTitle>
      <Text c="dimmed">The dashboard's figures come from GET /v1/dashboard.</Text>
    </>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/",
  component: Dashboard,
});
