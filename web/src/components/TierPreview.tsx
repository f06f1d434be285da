// The live price preview of one usage charge: type a quantity, see the invoice lines the
// server will produce (lib/tiers, the server's arithmetic in exact decimals).
import { useState } from "react";
import { Alert, Group, Table, Text, TextInput } from "@mantine/core";
import {
  previewTiers,
  PreviewError,
  type Preview,
  type TierInput,
  type TierMode,
} from "../lib/tiers";
import { formatCents, formatQuantity, formatUnitPrice } from "../lib/money";

function compute(
  mode: TierMode,
  tiers: readonly TierInput[],
  quantity: string,
): { preview: Preview } | { error: string } | null {
  if (quantity.trim() === "") return null;
  try {
    return { preview: previewTiers(mode, tiers, quantity.replace(/[,_ ]/g, "")) };
  } catch (error) {
    return { error: error instanceof PreviewError ? error.message : "Cannot preview these tiers" };
  }
}

export function TierPreview({
  mode,
  tiers,
  currency,
  label = "Preview quantity",
  initial = "",
}: {
  mode: TierMode;
  tiers: readonly TierInput[];
  currency: string;
  label?: string;
  initial?: string;
}) {
  const [quantity, setQuantity] = useState(initial);
  const outcome = compute(mode, tiers, quantity);
  let body;
  if (outcome === null) {
    body = (
      <Text size="sm" c="dimmed">
        Type a quantity to see its lines.
      </Text>
    );
  } else if ("error" in outcome) {
    body = (
      <Alert color="yellow" variant="light">
        {outcome.error}
      </Alert>
    );
  } else {
    const preview = outcome.preview;
    body = (
      <div className="table-scroll" tabIndex={0}>
        <Table aria-label="Price preview" data-testid="tier-preview">
          <Table.Thead>
            <Table.Tr>
              <Table.Th className="num">Tier</Table.Th>
              <Table.Th className="num">Quantity</Table.Th>
              <Table.Th className="num">Unit price</Table.Th>
              <Table.Th className="num">Flat</Table.Th>
              <Table.Th className="num">Amount</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {preview.lines.map((line) => (
              <Table.Tr key={line.tier}>
                <Table.Td className="num">{line.tier}</Table.Td>
                <Table.Td className="num">{formatQuantity(line.quantity)}</Table.Td>
                <Table.Td className="num">
                  {formatUnitPrice(line.unit_amount_decimal, currency)}
                </Table.Td>
                <Table.Td className="num">{formatCents(line.flat_amount_cents, currency)}</Table.Td>
                <Table.Td className="num">{formatCents(line.amount_cents, currency)}</Table.Td>
              </Table.Tr>
            ))}
            <Table.Tr>
              <Table.Td colSpan={4}>
                <Text fw={700} size="sm">
                  Total
                </Text>
              </Table.Td>
              <Table.Td className="num" data-testid="preview-total">
                <Text fw={700} size="sm">
                  {formatCents(preview.total_cents, currency)}
                </Text>
              </Table.Td>
            </Table.Tr>
          </Table.Tbody>
        </Table>
      </div>
    );
  }
  return (
    <div>
      <Group align="flex-end" mb="xs">
        <TextInput
          label={label}
          inputMode="numeric"
          value={quantity}
          onChange={(e) => setQuantity(e.currentTarget.value)}
          w={220}
        />
      </Group>
      {body}
    </div>
  );
}
