import type { HubJournal } from "../../device/journal/hub-journal.ts";
import type { TapHubView } from "../../device/tap-hub.ts";

/** A hub's view as one trace line: link, tap state, what the panel knows, the last sale's outcome. */
export function viewLine(view: TapHubView): string {
  const { tap } = view;
  return [
    view.hub,
    tap.state,
    tap.online ? "online" : "offline",
    tap.readerPresent ? "reader" : "no-reader",
    tap.clockWrong ? "clock-wrong" : "clock-ok",
    `code=${tap.lastDecisionCode ?? "-"}`,
    `reversal=${tap.reversal?.status ?? "-"}`,
    `refused=${tap.refusal?.code ?? "-"}`,
    `last=${tap.lastSale?.outcome ?? "-"}`,
    `backlog=${view.offlineBacklog.count}`,
  ].join(" ");
}

/** The journal as the hub uses it, telling which sale each new sale-opening write opened. */
export function observed(journal: HubJournal, opened: (saleId: string) => void): HubJournal {
  return new Proxy(journal, {
    get(target, property) {
      if (property === "seal") {
        return (...args: Parameters<HubJournal["seal"]>) => {
          const request = target.seal(...args);
          if (args[0].sale) opened(args[0].sale.saleId);
          return request;
        };
      }
      if (property === "storeCapture") {
        return (...args: Parameters<HubJournal["storeCapture"]>) => {
          const request = target.storeCapture(...args);
          opened(args[0].saleId);
          return request;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
