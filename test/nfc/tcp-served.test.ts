import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Pn532 } from "../../firmware-bridge/nfc/pn532.ts";
import { ReaderMode } from "../../firmware-bridge/nfc/reader-mode.ts";
import { openSerialPort } from "../../firmware-bridge/serial/open-serial-port.ts";
import type { SerialPortLike } from "../../firmware-bridge/serial/serial-port.ts";
import { ErrorCode } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { verifyCryptogram } from "../../protocol/payer.ts";
import { SeededRandom } from "../../core/sources.ts";
import { VirtualPn532 } from "../../simulator/pn532/virtual-pn532.ts";
import { HceWallet } from "../../simulator/phones/hce-wallet.ts";
import { serveOverTcp, type TcpDeviceServer } from "../../simulator/serial/serve-over-tcp.ts";
import { closeLink, fastOptions, rejectionCode } from "./harness.ts";

let server: TcpDeviceServer | undefined;
let link: { pn532: Pn532; port: SerialPortLike } | undefined;
afterEach(async () => {
  if (link) await closeLink(link.pn532, link.port);
  await server?.close();
  link = undefined;
  server = undefined;
});

describe("a virtual PN532 served over TCP on 127.0.0.1", () => {
  it("is driven through tcp:// exactly like a serial device, reader mode included", async () => {
    const chip = new VirtualPn532();
    server = await serveOverTcp(chip, 0);
    const port = await openSerialPort({ path: server.url, baudRate: 115200, openTimeoutMs: 1_000 });
    const pn532 = new Pn532(port, fastOptions);
    link = { pn532, port };
    await pn532.start();
    expect(await pn532.getFirmwareVersion()).toMatchObject({ ic: 0x32, version: 1, revision: 6 });

    const keys = generateP256();
    chip.placeInField(new HceWallet({ walletId: "wallet-tcp", privateKey: keys.privateKey, atcStart: 1 }));
    chip.setFaults({ garbageBeforeFrames: 2, splitChunks: true });
    const reader = new ReaderMode(pn532, { hubId: "hub-tcp", random: new SeededRandom(1), waitForCardMs: 500, apduTimeoutMs: 300 });
    const credential = await reader.readCredential({ amountMinor: 500, currency: "GBP" });
    expect(() =>
      verifyCryptogram(
        { walletId: "wallet-tcp", hubId: "hub-tcp", amountMinor: 500, currency: "GBP", unpredictableNumber: credential.unpredictableNumber, atc: 1 },
        credential.cryptogram,
        keys.publicKey,
      ),
    ).not.toThrow();
  });

  it("refuses a second host while one is connected", async () => {
    server = await serveOverTcp(new VirtualPn532(), 0);
    const port = await openSerialPort({ path: server.url, baudRate: 115200, openTimeoutMs: 1_000 });
    const pn532 = new Pn532(port, fastOptions);
    link = { pn532, port };
    const second = connect({ host: "127.0.0.1", port: server.port });
    await new Promise<void>((resolve) => second.once("close", () => resolve()));
    await pn532.start();
  });

  it("reports NfcPortClosed when the TCP device goes away mid-command", async () => {
    server = await serveOverTcp(new VirtualPn532(), 0);
    const port = await openSerialPort({ path: server.url, baudRate: 115200, openTimeoutMs: 1_000 });
    const pn532 = new Pn532(port, fastOptions);
    link = { pn532, port };
    await pn532.start();
    const waiting = pn532.inListPassiveTarget({ timeoutMs: 5_000 });
    setTimeout(() => void server!.close(), 20);
    expect(await rejectionCode(waiting)).toBe(ErrorCode.NfcPortClosed);
  });

  it("rejects a malformed tcp:// path with ConfigInvalid and an unreachable one within openTimeoutMs", async () => {
    expect(await rejectionCode(openSerialPort({ path: "tcp://127.0.0.1", baudRate: 115200, openTimeoutMs: 100 }))).toBe(ErrorCode.ConfigInvalid);
    expect(await rejectionCode(openSerialPort({ path: "/dev/ttyS0", baudRate: 12345, openTimeoutMs: 100 }))).toBe(ErrorCode.ConfigInvalid);
    const closedServer = await serveOverTcp(new VirtualPn532(), 0);
    const url = closedServer.url;
    await closedServer.close();
    expect(await rejectionCode(openSerialPort({ path: url, baudRate: 115200, openTimeoutMs: 500 }))).toBe(ErrorCode.SerialOpenFailed);
  });
});
