import type { ConnectOptions } from "@stoprocent/noble";
import { afterEach, describe, expect, it, vi } from "vitest";
import { glassesServiceUuid } from "../../firmware-bridge/ble/gatt.ts";
import { hciReason } from "../../simulator/glasses/virtual-peripheral.ts";
import { StubPeripheral, discoverOne, drainEvents, nobleWorld, poweredOn } from "./noble-harness.ts";

// Real noble (@stoprocent/noble 2.8) on the virtual bindings: what noble's callers see, and the events the bindings
// emit, checked against lib/hci-socket/bindings.js, gap.js and hci.js.
afterEach(() => vi.restoreAllMocks());

describe("adapter", () => {
  it("starts as hci does: address, poweredOn, then the scan parameters it set on the way", async () => {
    const { noble, takeEventNames } = nobleWorld({ address: "00:1a:7d:da:71:99" });

    await poweredOn(noble);
    await drainEvents();

    expect(takeEventNames()).toEqual(["addressChange", "stateChange", "scanParametersSet"]);
    expect(noble.address).toBe("00:1a:7d:da:71:99");
  });

  it("powering off ends each link with Hardware Failure (0x03) before reporting the new state", async () => {
    const { noble, bindings, stub, events } = nobleWorld();
    await poweredOn(noble);
    const peripheral = await discoverOne(noble);
    await peripheral.connectAsync();
    const reasons: unknown[] = [];
    peripheral.on("disconnect", (reason: unknown) => reasons.push(reason));
    await drainEvents();
    events.splice(0);

    bindings.setAdapterState("poweredOff");
    await drainEvents();

    expect(events.map(([name]) => name)).toEqual(["disconnect", "stateChange"]);
    expect(events[0]).toEqual(["disconnect", peripheral.id, hciReason.hardwareFailure]);
    expect(reasons).toEqual([hciReason.hardwareFailure]);
    expect(noble.state).toBe("poweredOff");
    expect(stub.connectedMtu).toBeUndefined();
    // noble forgot its peripherals on leaving poweredOn, so only the bindings' own answer shows the refusal.
    const answered = new Promise<unknown[]>((resolve) => bindings.once("connect", (...args: unknown[]) => resolve(args)));
    bindings.connect(peripheral.id);
    const [, error] = await answered;
    expect((error as Error).message).toBe("Cannot connect while adapter state is poweredOff (not poweredOn)");
  });
});

describe("scanning", () => {
  it("reports scanStart with the duplicate filter, then one discover with gap.js's advertisement object", async () => {
    const { noble, stub, events } = nobleWorld();
    await poweredOn(noble);
    await drainEvents();
    events.splice(0);

    const peripheral = await discoverOne(noble);
    await drainEvents();

    expect(events.map(([name]) => name)).toEqual(["scanStart", "scanParametersSet", "discover"]);
    expect(events[0]).toEqual(["scanStart", true]);
    const id = stub.address.replace(/:/g, "");
    expect(events[2]).toEqual(["discover", id, stub.address, "random", true, stub.advertisement(), stub.rssi, false]);
    expect(peripheral).toMatchObject({ id, address: stub.address, addressType: "random", connectable: true, rssi: stub.rssi });
    expect(peripheral.advertisement).toMatchObject({ localName: "tapwire-glasses", serviceUuids: [glassesServiceUuid] });
  });

  it("with the duplicate filter on, a peripheral is reported once per scan; allowing duplicates reports each advertisement", async () => {
    const { noble, stub, events } = nobleWorld();
    await poweredOn(noble);
    await discoverOne(noble, false);
    stub.host!.advertisementChanged(stub);
    await drainEvents();
    expect(events.filter(([name]) => name === "discover")).toHaveLength(1);

    await noble.stopScanningAsync();
    events.splice(0);
    await discoverOne(noble, true);
    stub.host!.advertisementChanged(stub);
    await drainEvents();
    expect(events.filter(([name]) => name === "discover")).toHaveLength(2);
    expect(events.find(([name]) => name === "scanStart")).toEqual(["scanStart", false]);
  });

  it("a scan for another service reports nothing; a second start while scanning says scanStart without the flag", async () => {
    const { noble, events } = nobleWorld();
    await poweredOn(noble);
    await noble.startScanningAsync(["180d"], false);
    await drainEvents();
    events.splice(0);

    await noble.startScanningAsync(["180d"], false);
    await drainEvents();

    expect(events).toEqual([["scanStart"]]);
  });
});

describe("connecting", () => {
  it("stops a running scan first, then connect and the MTU gatt.js learned: the server's Rx MTU", async () => {
    const { noble, stub, events } = nobleWorld({}, new StubPeripheral("f0:0d:00:00:00:bb", 185));
    await poweredOn(noble);
    const peripheral = await discoverOne(noble);
    events.splice(0);
    const mtus: number[] = [];
    peripheral.on("mtu", (mtu: number) => mtus.push(mtu));

    // hci bindings read the MTU to ask for from the connect parameters; the typings do not list it.
    await noble.connectAsync(peripheral.id, { mtu: 100 } as ConnectOptions);
    await drainEvents();

    expect(events.map(([name]) => name)).toEqual(["scanStop", "connect", "onMtu"]);
    expect(events[1]).toEqual(["connect", peripheral.id, null]);
    // gatt.js keeps the MTU from the Exchange MTU Response (the server's 185) although the link runs at 100.
    expect(mtus).toEqual([185]);
    expect(peripheral.mtu).toBe(185);
    expect(stub.connectedMtu).toBe(100);
    expect(peripheral.state).toBe("connected");
  });

  it("a refused connection fails with hci's status text; an existing link is ACL Connection Already Exists", async () => {
    const { noble, bindings, stub } = nobleWorld();
    await poweredOn(noble);
    const peripheral = await discoverOne(noble);
    await noble.stopScanningAsync();
    stub.refuseNext = true;

    await expect(peripheral.connectAsync()).rejects.toThrow("Connection Failed to be Established (0x3e)");
    await peripheral.connectAsync();
    const answered = new Promise<unknown[]>((resolve) => bindings.once("connect", (...args: unknown[]) => resolve(args)));
    bindings.connect(peripheral.id);
    const [, error] = await answered;
    expect((error as Error).message).toBe("ACL Connection Already Exists (0xb)");
  });

  it("a connect to a peripheral out of range waits; cancelConnect ends it, and a later connect completes in range", async () => {
    const { noble, stub, events } = nobleWorld();
    await poweredOn(noble);
    const peripheral = await discoverOne(noble);
    await noble.stopScanningAsync();
    stub.inRange = false;

    const first = peripheral.connectAsync();
    await drainEvents();
    expect(events.some(([name]) => name === "connect")).toBe(false);
    peripheral.cancelConnect();
    await expect(first).rejects.toThrow("connection canceled!");

    const second = peripheral.connectAsync();
    stub.setInRange(true);
    await second;
    expect(peripheral.state).toBe("connected");
  });

  it("a connect by address to a peripheral never seen advertising is reported as bindings.js does: empty advertisement, RSSI 127", async () => {
    const { noble, stub, events } = nobleWorld();
    await poweredOn(noble);
    const id = stub.address.replace(/:/g, "");

    const peripheral = await noble.connectAsync(stub.address);

    expect(events.find(([name]) => name === "discover")).toEqual(["discover", id, stub.address, "random", true, { serviceUuids: [], serviceData: [] }, 127, false]);
    expect(peripheral.id).toBe(id);
  });

  it("disconnect reasons are HCI numbers: 0x16 when the hub hangs up, 0x13 and 0x08 when the peripheral goes", async () => {
    const { noble, bindings, stub } = nobleWorld();
    await poweredOn(noble);
    const peripheral = await discoverOne(noble);
    await noble.stopScanningAsync();
    const reasons: unknown[] = [];
    peripheral.on("disconnect", (reason: unknown) => reasons.push(reason));

    await peripheral.connectAsync();
    await peripheral.disconnectAsync();
    await peripheral.connectAsync();
    const remote = new Promise((resolve) => peripheral.once("disconnect", resolve));
    bindings.drop(stub, hciReason.remoteUserTerminated);
    await remote;
    await peripheral.connectAsync();
    const lost = new Promise((resolve) => peripheral.once("disconnect", resolve));
    bindings.drop(stub);
    await lost;

    expect(reasons).toEqual([hciReason.localHostTerminated, hciReason.remoteUserTerminated, hciReason.connectionTimeout]);
  });

  it("reads the RSSI of a connected peripheral", async () => {
    const { noble } = nobleWorld();
    await poweredOn(noble);
    const peripheral = await discoverOne(noble);
    await peripheral.connectAsync();

    expect(await peripheral.updateRssiAsync()).toBe(-52);
  });
});
