import type { ReactNode } from "react";
import { AppShell, Badge, Burger, Button, Group, NavLink, ScrollArea, Text } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { Link, useRouterState } from "@tanstack/react-router";
import { useSession } from "./SessionProvider";
import { useTestClock } from "../api/testClock";

const links = [
  { to: "/", label: "Dashboard" },
  { to: "/customers", label: "Customers" },
  { to: "/plans", label: "Plans" },
  { to: "/subscriptions", label: "Subscriptions" },
  { to: "/invoices", label: "Invoices" },
  { to: "/payments", label: "Payments" },
  { to: "/usage", label: "Usage explorer" },
  { to: "/audit", label: "Audit log" },
] as const;

export function Shell({ children }: { children: ReactNode }) {
  const [opened, { toggle, close }] = useDisclosure();
  const { session, signOut } = useSession();
  const path = useRouterState({ select: (s) => s.location.pathname });
  const clock = useTestClock();
  const isAdmin = session?.role === "admin";
  const active = (to: string) => (to === "/" ? path === "/" : path.startsWith(to));
  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 220, breakpoint: "sm", collapsed: { mobile: !opened } }}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Menu" />
            <Text fw={700} component={Link} to="/">
              Billing
            </Text>
            {session?.role === "read" && (
              <Badge color="gray" variant="outline">
                read only
              </Badge>
            )}
          </Group>
          <Group gap="sm" wrap="nowrap">
            {clock.data && (
              <Text size="xs" c="dimmed" visibleFrom="xs" data-testid="clock-now">
                clock {clock.data.now.replace("T", " ").replace("Z", " UTC")}
              </Text>
            )}
            <Button variant="subtle" size="xs" onClick={signOut}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main">
        <ScrollArea>
          {links.map((link) => (
            <NavLink
              key={link.to}
              component={Link}
              to={link.to}
              label={link.label}
              active={active(link.to)}
              onClick={close}
            />
          ))}
          {isAdmin && (
            <NavLink
              component={Link}
              to="/tokens"
              label="API tokens"
              active={active("/tokens")}
              onClick={close}
            />
          )}
          {isAdmin && clock.data && (
            <NavLink
              component={Link}
              to="/test-clock"
              label="Test clock"
              active={active("/test-clock")}
              onClick={close}
            />
          )}
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main>{children}</AppShell.Main>
    </AppShell>
  );
}
