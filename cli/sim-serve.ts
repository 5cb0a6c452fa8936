import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { HubLink } from "../firmware-bridge/mqtt/hub-link.ts";
import { ErrorCode, TapwireError, errorCodeName, isTapwireError } from "../protocol/errors.ts";
import { generateP256, importPrivatePem, importPublicPem } from "../protocol/keys.ts";
import { formatMoney } from "../protocol/money.ts";
import { systemClock } from "../core/sources.ts";
import { FirmataSerialDevice } from "../simulator/scenarios/tap/firmata-serial-device.ts";
import { simulatedPanelPins } from "../simulator/scenarios/tap/simulated-tap-hub.ts";
import { readNextAtc, writeNextAtc } from "../simulator/phones/atc-file.ts";
import { HceWallet } from "../simulator/phones/hce-wallet.ts";
import { TagReadingWallet } from "../simulator/phones/tag-reading-wallet.ts";
import { VirtualPn532 } from "../simulator/pn532/virtual-pn532.ts";
import { serveOverTcp, type TcpDeviceServer } from "../simulator/serial/serve-over-tcp.ts";
import { WalletClient } from "../simulator/wallet-client/wallet-client.ts";
import { integerFlag, parseFlags } from "./args.ts";
import { stopSignal } from "./signals.ts";

export const simServeUsage = `tapwire sim serve pn532 --port N [--phone hce|tag] [--wallet-dir DIR --wallet-id W [--broker-url mqtts://HOST:PORT]] [--atc N]
  Serves a virtual PN532 on tcp://127.0.0.1:N for a hub whose nfc.path is that URL. stdin: "hce" or "tag" puts a
  phone in the field, "remove" takes it away, "replay" makes the HCE phone replay its last cryptogram, "quit"
  (or SIGINT/SIGTERM; end of input keeps it serving).
  HCE phones sign with the wallet's key from --wallet-dir (as written by \`tapwire wallet enroll\`; without it the
  service declines every sale E304 UnknownWallet) and keep their transaction counter there (file \`atc\`), so a
  restart goes on where it stopped; --atc N starts it at N. Tag phones pay each offer they read over the wallet's
  own MQTT link when --broker-url is given (the settlement broker, e.g. mqtts://127.0.0.1:8883).
  example: tapwire sim serve pn532 --port 7001 --phone hce --wallet-dir .tapwire/wallets/w1 --wallet-id w1
tapwire sim serve firmata --port N
  Serves a virtual Firmata board (Uno, StandardFirmata) on tcp://127.0.0.1:N for a hub whose panel.path is that
  URL; prints its LEDs as they change. stdin: "press" presses the cancel button (pin ${simulatedPanelPins.cancelButton}), "quit".
  example: tapwire sim serve firmata --port 7002
tapwire sim serve hid --port N [--mode keyboard|pos] [--wallet-dir DIR --wallet-id W]
  Serves a virtual USB QR scanner (keyboard-mode or HID POS reports) on tcp://127.0.0.1:N for a hub whose
  scanner.path is that URL. stdin: "code" scans a fresh payment code of the wallet in --wallet-dir (as its phone
  would show it), "scan TEXT" scans TEXT as it is (a product barcode, a saved code: replayed), "unplug" pulls the
  cable, "quit".
  example: tapwire sim serve hid --port 7003 --wallet-dir .tapwire/wallets/w1 --wallet-id w1
tapwire sim serve provider --provider-dir DIR --provider-id P --currency JPY --broker-url mqtts://HOST:PORT
    [--wallet W=BALANCE_MINOR ...] [--mqtt-version 4|5]
  A simulated wallet provider on the settlement broker, with the certificate and key \`tapwire provider enroll\` wrote
  to DIR: it answers the service's signed authorization requests for its wallets (each --wallet with its balance in
  minor units of --currency) with signed approvals or declines. stdin: "answer", "silent" (never answers), "late"
  (answers after the service's deadline), "decline" (declines everything), "balance W", "quit".
  example: tapwire sim serve provider --provider-dir .tapwire/providers/jp-pay --provider-id jp-pay --currency JPY --broker-url mqtts://127.0.0.1:8883 --wallet jp1=100000`;

/** How long `press` holds the button, above any sensible debounce. */
const buttonHoldMs = 100;
/** How often the served board's LEDs are compared for printing. */
const ledPollMs = 50;

interface WalletFiles {
  walletId: string;
  keyPem: string;
  caPem: string;
  certPem: string;
  servicePublicKeyPem: string;
}

export function readWalletDir(dir: string, walletId: string): WalletFiles {
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name), "utf8");
    } catch (error) {
      throw new TapwireError(`--wallet-dir: cannot read ${join(dir, name)}: ${(error as Error).message}`, ErrorCode.ConfigInvalid);
    }
  };
  return { walletId, keyPem: read("key.pem"), caPem: read("ca.pem"), certPem: read("cert.pem"), servicePublicKeyPem: read("service.pub.pem") };
}

export interface ServeIo {
  input: Readable;
  output: Writable;
  signal: AbortSignal;
  /** Called once the device listens, with its tcp:// URL. */
  onListening?: (url: string) => void;
}

export async function simServeCommand(argv: string[]): Promise<number> {
  const [device, ...rest] = argv;
  const stopping = stopSignal();
  const io: ServeIo = { input: process.stdin, output: process.stdout, signal: stopping.signal };
  try {
    if (device === "pn532") await servePn532(rest, io);
    else if (device === "firmata") await serveFirmata(rest, io);
    else if (device === "hid") await (await import("./sim-serve-hid.ts")).serveHid(rest, io);
    else if (device === "provider") await (await import("./sim-serve-provider.ts")).serveProvider(rest, io);
    else throw new TapwireError(`sim serve needs a device: pn532, firmata, hid or provider, got ${JSON.stringify(device ?? "")}`, ErrorCode.ConfigInvalid);
  } finally {
    stopping.dispose();
  }
  return 0;
}

export async function servePn532(argv: string[], io: ServeIo): Promise<void> {
  const { values } = parseFlags(argv, {
    port: { type: "string" },
    phone: { type: "string" },
    "wallet-dir": { type: "string" },
    "wallet-id": { type: "string" },
    "broker-url": { type: "string" },
    atc: { type: "string" },
  });
  const port = integerFlag(values.port, "port", 0, 65_535);
  if (values.phone !== undefined && values.phone !== "hce" && values.phone !== "tag") {
    throw new TapwireError(`--phone must be hce or tag, got ${JSON.stringify(values.phone)}`, ErrorCode.ConfigInvalid);
  }
  const walletDir = values["wallet-dir"];
  const wallet = walletDir ? readWalletDir(walletDir, values["wallet-id"] ?? "w1") : undefined;
  if (!wallet) io.output.write("no --wallet-dir: HCE phones sign with a throw-away key the service will not accept\n");
  const walletId = wallet?.walletId ?? "sim-wallet";
  // The phone keeps its counter in its wallet dir across restarts; --atc starts it elsewhere (replay tests).
  const atcStart = integerFlag(values.atc, "atc", 1, 0xffff, walletDir ? readNextAtc(walletDir) : 1);
  const hce = new HceWallet({
    walletId,
    privateKey: wallet ? importPrivatePem(wallet.keyPem) : generateP256().privateKey,
    atcStart,
    ...(walletDir ? { onAtcUsed: (nextAtc: number) => writeNextAtc(walletDir, nextAtc) } : {}),
  });

  let link: HubLink | undefined;
  let client: WalletClient | undefined;
  if (wallet && values["broker-url"]) {
    link = new HubLink({
      url: values["broker-url"],
      tls: { caPem: wallet.caPem, certPem: wallet.certPem, keyPem: wallet.keyPem },
      principal: { kind: "wallet", id: wallet.walletId },
      protocolVersion: 4,
      servicePublicKey: importPublicPem(wallet.servicePublicKeyPem),
    });
    link.start();
    await link.waitConnected(10_000);
    client = new WalletClient({ walletId, privateKey: importPrivatePem(wallet.keyPem), link, clock: systemClock, decisionTimeoutMs: 10_000 });
  }
  const tagPhone = new TagReadingWallet({
    apduTimeoutMs: 500,
    onOffer: async (offerBytes) => {
      if (!client) {
        io.output.write(`phone read an offer of ${offerBytes.length} bytes (no --broker-url: not paid)\n`);
        return;
      }
      try {
        const { offer, decision } = await client.pay(offerBytes);
        io.output.write(`wallet paid ${formatMoney(offer)} for offer ${offer.offerId}: ${decision.status}${decision.code ? ` E${decision.code} ${errorCodeName(decision.code)}` : ""}\n`);
      } catch (error) {
        io.output.write(`wallet could not pay: ${isTapwireError(error) ? `E${error.code} ${errorCodeName(error.code)}` : String(error)}\n`);
      }
    },
  });

  const chip = new VirtualPn532();
  const place = (phone: string) => {
    chip.placeInField(phone === "tag" ? tagPhone : hce);
    io.output.write(`${phone} phone in the field\n`);
  };
  if (values.phone) place(values.phone);
  const server = await serveOverTcp(chip, port);
  try {
    announce(io, "PN532", server);
    await readCommands(io, (command) => {
      if (command === "hce" || command === "tag") place(command);
      else if (command === "remove") {
        chip.removeFromField();
        io.output.write("field empty\n");
      } else if (command === "replay") hce.replayNextCryptogram();
      else io.output.write(`unknown command ${JSON.stringify(command)}: hce, tag, remove, replay, quit\n`);
    });
  } finally {
    await server.close();
    await link?.stop();
  }
}

export async function serveFirmata(argv: string[], io: ServeIo): Promise<void> {
  const { values } = parseFlags(argv, { port: { type: "string" } });
  const port = integerFlag(values.port, "port", 0, 65_535);
  const device = new FirmataSerialDevice();
  const server = await serveOverTcp(device, port);
  const pins = simulatedPanelPins;
  let shown = "";
  const poll = setInterval(() => {
    const board = device.board;
    if (!board) return;
    const lit = (["green", "red", "amber", "blue", "buzzer"] as const).filter((role) => board.ledOn(pins[role]));
    const line = lit.length > 0 ? lit.join(" ") : "dark";
    if (line !== shown) io.output.write(`panel: ${line}\n`);
    shown = line;
  }, ledPollMs);
  try {
    announce(io, "Firmata board", server);
    await readCommands(io, async (command) => {
      const board = device.board;
      if (command !== "press") io.output.write(`unknown command ${JSON.stringify(command)}: press, quit\n`);
      else if (!board) io.output.write("no hub connected\n");
      else {
        board.pressButton(pins.cancelButton);
        await new Promise((resolve) => setTimeout(resolve, buttonHoldMs));
        board.releaseButton(pins.cancelButton);
      }
    });
  } finally {
    clearInterval(poll);
    device.disconnect();
    await server.close();
  }
}

export function announce(io: ServeIo, what: string, server: TcpDeviceServer): void {
  io.output.write(`virtual ${what} on ${server.url}\n`);
  io.onListening?.(server.url);
}

/**
 * Runs each stdin line through `handle` until "quit" or the signal. End of input only ends the commands: a
 * simulator started in the background (stdin closed) keeps serving until it is signalled.
 */
export async function readCommands(io: ServeIo, handle: (command: string) => void | Promise<void>): Promise<void> {
  const lines = createInterface({ input: io.input, terminal: false });
  await new Promise<void>((resolve) => {
    io.signal.addEventListener("abort", () => resolve(), { once: true });
    lines.on("line", (line) => {
      const command = line.trim();
      if (command === "quit") resolve();
      else if (command !== "") void Promise.resolve(handle(command)).catch((error: unknown) => io.output.write(`${String(error)}\n`));
    });
  });
  lines.close();
}
