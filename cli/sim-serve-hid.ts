import { systemClock, systemRandom } from "../core/sources.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { importPrivatePem } from "../protocol/keys.ts";
import { issuePaymentCode } from "../protocol/payment-code.ts";
import { VirtualScanner } from "../simulator/hid/virtual-scanner.ts";
import { serveOverTcp } from "../simulator/serial/serve-over-tcp.ts";
import { integerFlag, parseFlags } from "./args.ts";
import { announce, readCommands, readWalletDir, type ServeIo } from "./sim-serve.ts";

/** `tapwire sim serve hid`: a virtual QR scanner served over TCP, scanning the wallet's payment codes on command. */
export async function serveHid(argv: string[], io: ServeIo): Promise<void> {
  const { values } = parseFlags(argv, { port: { type: "string" }, mode: { type: "string", default: "keyboard" }, "wallet-dir": { type: "string" }, "wallet-id": { type: "string" } });
  const port = integerFlag(values.port, "port", 0, 65_535);
  const mode = values.mode;
  if (mode !== "keyboard" && mode !== "pos") throw new TapwireError(`--mode must be keyboard or pos, got ${JSON.stringify(mode)}`, ErrorCode.ConfigInvalid);
  const walletDir = values["wallet-dir"];
  const wallet = walletDir ? readWalletDir(walletDir, values["wallet-id"] ?? "w1") : undefined;
  const privateKey = wallet && importPrivatePem(wallet.keyPem);
  const scanner = new VirtualScanner(mode);
  const server = await serveOverTcp(scanner, port);
  const scan = (text: string) => io.output.write(scanner.scan(text) ? `scanned ${text.length} characters\n` : "no hub has the scanner open\n");
  try {
    announce(io, "QR scanner", server);
    io.output.write(`reporting in ${mode} mode: the hub's scanner.mode must say the same\n`);
    await readCommands(io, (command) => {
      if (command === "code") {
        if (!wallet || !privateKey) throw new TapwireError("code needs --wallet-dir (and --wallet-id) to sign with", ErrorCode.ConfigInvalid);
        scan(issuePaymentCode({ walletId: wallet.walletId, privateKey, nowMs: systemClock.nowMs(), random: systemRandom }).text);
      } else if (command.startsWith("scan ")) scan(command.slice("scan ".length));
      else if (command === "unplug") {
        scanner.unplug();
        server.dropConnection();
        io.output.write("scanner unplugged; the hub may open it again\n");
      } else io.output.write(`unknown command ${JSON.stringify(command)}: code, scan TEXT, unplug, quit\n`);
    });
  } finally {
    await server.close();
  }
}
