import { readFileSync } from "node:fs";
import { join } from "node:path";
import { systemClock, systemTimers } from "../core/sources.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { isCurrency } from "../protocol/money.ts";
import { ServedProvider, type ProviderBundle } from "../simulator/provider/served-provider.ts";
import type { ProviderBehaviour } from "../simulator/provider/sim-provider.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";
import { readCommands, type ServeIo } from "./sim-serve.ts";

const behaviours: readonly ProviderBehaviour[] = ["answer", "silent", "late", "decline"];
/** Wallets one served provider holds. */
const providerWalletsMax = 1_000;

function readProviderDir(dir: string): ProviderBundle {
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name), "utf8");
    } catch (error) {
      throw new TapwireError(`--provider-dir: cannot read ${join(dir, name)}: ${(error as Error).message}`, ErrorCode.ConfigInvalid);
    }
  };
  return { keyPem: read("key.pem"), certPem: read("cert.pem"), caPem: read("ca.pem"), servicePublicKeyPem: read("service.pub.pem") };
}

/** `--wallet jp1=100000`: a wallet the provider holds and its balance in minor units of its currency. */
function balancesOf(wallets: readonly string[]): Record<string, number> {
  if (wallets.length > providerWalletsMax) throw new TapwireError(`at most ${providerWalletsMax} --wallet flags`, ErrorCode.ConfigInvalid);
  return Object.fromEntries(
    wallets.map((spec) => {
      const [walletId, balance] = spec.split("=");
      if (!walletId || balance === undefined) throw new TapwireError(`--wallet must be ID=BALANCE_MINOR, got ${JSON.stringify(spec)}`, ErrorCode.ConfigInvalid);
      return [walletId, integerFlag(balance, "wallet", 0, Number.MAX_SAFE_INTEGER)];
    }),
  );
}

/** `tapwire sim serve provider`: a simulated wallet provider on the settlement broker, switched from stdin. */
export async function serveProvider(argv: string[], io: ServeIo): Promise<void> {
  const { values } = parseFlags(argv, {
    "provider-dir": { type: "string" },
    "provider-id": { type: "string" },
    currency: { type: "string" },
    "broker-url": { type: "string" },
    wallet: { type: "string", multiple: true },
    "mqtt-version": { type: "string" },
  });
  const providerId = requireFlag(values["provider-id"], "provider-id");
  const currency = requireFlag(values.currency, "currency");
  if (!isCurrency(currency)) throw new TapwireError(`--currency ${currency} is not a currency tapwire knows`, ErrorCode.ConfigInvalid);
  const served = new ServedProvider({
    providerId,
    currency,
    bundle: readProviderDir(requireFlag(values["provider-dir"], "provider-dir")),
    brokerUrl: requireFlag(values["broker-url"], "broker-url"),
    protocolVersion: integerFlag(values["mqtt-version"], "mqtt-version", 4, 5, 4) as 4 | 5,
    balances: balancesOf(values.wallet ?? []),
    clock: systemClock,
    timers: systemTimers,
  });
  await served.start(10_000);
  try {
    io.output.write(`provider ${providerId} (${currency}) connected to ${values["broker-url"]}, answering\n`);
    await readCommands(io, (command) => {
      const [word, walletId] = command.split(" ");
      if ((behaviours as readonly string[]).includes(command)) {
        served.provider.behaviour = command as ProviderBehaviour;
        io.output.write(`provider now ${command}\n`);
      } else if (word === "balance" && walletId) io.output.write(`${walletId}: ${served.provider.balanceOf(walletId) ?? "no such wallet"}\n`);
      else io.output.write(`unknown command ${JSON.stringify(command)}: ${behaviours.join(", ")}, balance W, quit\n`);
    });
  } finally {
    await served.stop();
  }
}
