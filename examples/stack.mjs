// An embedded settlement service for an example: merchant m1 (EUR), and a stop() that removes its temporary data.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SettlementNode } from "tapwire/settlement";

export async function startStack() {
  const dataDir = mkdtempSync(join(tmpdir(), "tapwire-example-"));
  const node = new SettlementNode({ dataDir, port: 0 });
  await node.start();
  await node.registry.enrollMerchant({ merchantId: "m1", currency: "EUR" });
  return {
    node,
    dataDir,
    async stop() {
      await node.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Fails the example with a clear line when `ok` is false. */
export function check(ok, what) {
  if (!ok) throw new Error(`example failed: ${what}`);
  console.log(`ok: ${what}`);
}
