// Mantine's theme with contrast raised to WCAG AA (axe-core's color-contrast rule, checked on
// every page by the e2e run): filled colors use shade 8 (white text ≥ 4.5:1), light and
// outline variants and dimmed text use darker tones than Mantine's defaults.
import { Modal, Notification, createTheme, type CSSVariablesResolver } from "@mantine/core";

export const theme = createTheme({
  primaryColor: "indigo",
  primaryShade: 8,
  defaultRadius: "md",
  // Users who ask for reduced motion get none: dialogs and notifications appear and go at once.
  // (The e2e run asks for it too, so axe never measures a notification mid-fade.)
  respectReducedMotion: true,
  // Close buttons are icons: give them a name screen readers can say.
  components: {
    Modal: Modal.extend({ defaultProps: { closeButtonProps: { "aria-label": "Close" } } }),
    Notification: Notification.extend({
      defaultProps: { closeButtonProps: { "aria-label": "Dismiss" } },
    }),
  },
});

export const cssVariables: CSSVariablesResolver = (t) => ({
  variables: {},
  light: {
    "--mantine-color-dimmed": t.colors.gray[7],
    "--mantine-color-placeholder": t.colors.gray[7],
    "--mantine-color-indigo-light-color": t.colors.indigo[9],
    "--mantine-primary-color-light-color": t.colors.indigo[9],
    "--mantine-color-blue-light-color": "#1c5a9e",
    "--mantine-color-red-light-color": "#a51d1d",
    "--mantine-color-orange-light-color": "#9a3412",
    "--mantine-color-green-light-color": "#1e6b2f",
    "--mantine-color-yellow-light-color": "#7a5c00",
    "--mantine-color-gray-light-color": t.colors.gray[8],
    "--mantine-color-gray-outline": t.colors.gray[8],
    "--mantine-color-red-text": "#a51d1d",
    "--mantine-color-error": "#a51d1d",
  },
  dark: {},
});
