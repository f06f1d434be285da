import { useState } from "react";
import { Button, Group, Paper, Table, TextInput } from "@mantine/core";
import { createRoute, useNavigate } from "@tanstack/react-router";
import { rootRoute } from "./__root";
import { useUserSearch } from "../api/users";
import { AdminOnly } from "../components/Guard";
import { CreateCustomer } from "../components/CreateCustomer";
import { Empty, ErrorAlert, IdLink, Loading, Money, PageTitle, Pager } from "../components/ui";
import { formatDate } from "../lib/time";
import { str } from "../lib/search";

function Customers() {
  const { q, cursor } = Route.useSearch();
  const navigate = useNavigate({ from: Route.fullPath });
  const [text, setText] = useState(q ?? "");
  const result = useUserSearch(q ?? "", cursor);
  return (
    <>
      <PageTitle
        actions={
          <AdminOnly>
            <CreateCustomer />
          </AdminOnly>
        }
      >
        Customers
      </PageTitle>
      <form
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          void navigate({ search: { q: text.trim() || undefined, cursor: undefined } });
        }}
      >
        <Group align="flex-end" mb="md">
          <TextInput
            label="Search by email, name or id"
            placeholder="ada@example.com, Ada, usr_…"
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            style={{ flex: 1, minWidth: 200 }}
          />
          <Button type="submit" variant="light">
            Search
          </Button>
        </Group>
      </form>
      <Paper withBorder>
        {result.isPending ? (
          <Loading />
        ) : result.isError ? (
          <ErrorAlert error={result.error} title="Search failed" />
        ) : result.data.data.length === 0 ? (
          <Empty>No customer found.</Empty>
        ) : (
          <div className="table-scroll" tabIndex={0}>
            <Table data-list highlightOnHover aria-label="Customers">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Customer</Table.Th>
                  <Table.Th>Email</Table.Th>
                  <Table.Th>Name</Table.Th>
                  <Table.Th className="num">Credit balance</Table.Th>
                  <Table.Th>Created</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {result.data.data.map((user) => (
                  <Table.Tr key={user.id}>
                    <Table.Td>
                      <IdLink to="/customers/$id" id={user.id} />
                    </Table.Td>
                    <Table.Td>{user.email}</Table.Td>
                    <Table.Td>{user.name ?? "—"}</Table.Td>
                    <Table.Td className="num">
                      <Money cents={user.credit_balance_cents} />
                    </Table.Td>
                    <Table.Td>{formatDate(user.created_at)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </div>
        )}
      </Paper>
      <Pager
        cursor={cursor}
        nextCursor={result.data?.next_cursor}
        onCursor={(c) => void navigate({ search: (s) => ({ ...s, cursor: c }) })}
      />
    </>
  );
}

export const Route = createRoute({
  getParentRoute: () => rootRoute,
  path: "/customers",
  validateSearch: (s: Record<string, unknown>): { q?: string; cursor?: string } => ({
    q: str(s.q),
    cursor: str(s.cursor),
  }),
  component: Customers,
});
