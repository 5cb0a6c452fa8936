import type { BeepPattern, IndicatorPort, IndicatorState } from "../../device/ports.ts";
import { logger } from "../../core/log.ts";
import type { IndicatorState as PanelState, StatusIndicator } from "../gpio/status-indicator.ts";

const log = logger("tapwire:adapters:indicator");

/**
 * What the panel shows for each of device/'s indicator states, and what it says about the link. The panel has
 * no "offline" or "cancelled" colour: offline is the blue LED off with the payment LEDs dark, cancelled is the
 * payment LEDs dark. The tap machine shows idle/waiting/authorizing only while the link is up, so those turn
 * the blue LED on; the result states leave it as it was. Approved offline is green with the blue LED off;
 * a reader gone or a clock wrong is the fault pattern (red and amber).
 */
const panelStateFor: Record<IndicatorState, { state: PanelState; online?: boolean }> = {
  idle: { state: "idle", online: true },
  offline: { state: "idle", online: false },
  waiting: { state: "waiting", online: true },
  authorizing: { state: "authorizing", online: true },
  approved: { state: "approved" },
  declined: { state: "declined" },
  error: { state: "error" },
  cancelled: { state: "idle" },
  approvedOffline: { state: "approved", online: false },
  clockWrong: { state: "fault" },
  readerGone: { state: "fault" },
};

/**
 * A StatusIndicator (the Firmata HubPanel, or a screen) as device/'s IndicatorPort. The port's calls must not
 * throw: a dark LED or a silent buzzer must never fail a payment, so panel errors are logged and dropped.
 */
export class PanelIndicator implements IndicatorPort {
  constructor(private readonly panel: StatusIndicator) {}

  show(state: IndicatorState): void {
    const shown = panelStateFor[state];
    this.guard("show", () => {
      this.panel.showState(shown.state);
      if (shown.online !== undefined) this.panel.showOnline(shown.online);
    });
  }

  beep(pattern: BeepPattern): void {
    this.guard("beep", () => {
      this.panel.beep(pattern).catch((error: unknown) => log.warn({ err: error, pattern }, "beep failed"));
    });
  }

  onCancel(listener: () => void): () => void {
    return this.panel.onCancel(listener);
  }

  private guard(what: string, work: () => void): void {
    try {
      work();
    } catch (error) {
      log.warn({ err: error, what }, "status panel call failed; payment goes on");
    }
  }
}
