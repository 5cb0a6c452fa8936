import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EnrolmentBundle } from "../../broker/enrolment.ts";
import { parseHubConfig, readHubSecrets } from "../../cli/hub-config.ts";
import { startHub, type RunningHub } from "../../cli/hub.ts";
import { FirmataSerialDevice } from "../../simulator/scenarios/tap/firmata-serial-device.ts";
import { simulatedPanelPins } from "../../simulator/scenarios/tap/simulated-tap-hub.ts";
import { serveOverTcp } from "../../simulator/serial/serve-over-tcp.ts";
import { TestStack } from "../e2e/stack.ts";
import { writeBundle } from "./bundles.ts";
import { fastLink, fastResend, fastTiming } from "./fixture.ts";

/** Undoes something a test started, in the reverse order of starting (the test file's afterEach runs them). */
export type Defer = (cleanup: () => Promise<void> | void) => void;

/** A real settlement stack (m1, h1, w1) and a temp folder holding the hub's and the wallet's enrolment bundles. */
export async function stackWithBundles(defer: Defer, prefix: string): Promise<{ stack: TestStack; dir: string; hub: EnrolmentBundle; wallet: EnrolmentBundle }> {
  const stack = await TestStack.start();
  defer(() => stack.stop());
  const { hub, wallet } = await stack.enrolDefaults();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  writeBundle(join(dir, "hub"), hub);
  writeBundle(join(dir, "wallet"), wallet);
  return { stack, dir, hub, wallet };
}

/** A virtual Firmata board served on a loopback port, as `tapwire sim serve firmata` does. */
export async function servedPanel(defer: Defer): Promise<{ firmata: FirmataSerialDevice; url: string }> {
  const firmata = new FirmataSerialDevice();
  const server = await serveOverTcp(firmata, 0);
  defer(() => server.close());
  return { firmata, url: server.url };
}

/**
 * `tapwire hub`'s own start-up (startHub) from a hub.json naming served devices; the fast timings are the tap-hub
 * fixture's (shortened waits a customer sees; every lifetime and limit the service checks stays at its default).
 */
export async function startServedHub(defer: Defer, stack: TestStack, dir: string, devices: { nfcPath: string; panelPath: string; scanner?: { path: string } }): Promise<RunningHub> {
  const config = parseHubConfig(
    {
      hubId: "h1",
      merchantId: "m1",
      broker: { url: stack.node.url, enrolmentDir: "hub" },
      nfc: { path: devices.nfcPath, apduTimeoutMs: 300 },
      panel: { path: devices.panelPath, pins: simulatedPanelPins, debounceMs: 15, readyTimeoutMs: 3_000 },
      ...(devices.scanner ? { scanner: devices.scanner } : {}),
      journalFile: "hub/journal.sqlite",
      timings: { ...fastTiming, ...fastLink, ...fastResend },
    },
    dir,
  );
  const running = await startHub(config, readHubSecrets(config.broker));
  defer(() => running.stop());
  return running;
}
