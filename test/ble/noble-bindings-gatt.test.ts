import type { Characteristic, Peripheral } from "@stoprocent/noble";
import { afterEach, describe, expect, it, vi } from "vitest";
import { glassesNotifyUuid, glassesServiceUuid, glassesWriteUuid } from "../../firmware-bridge/ble/gatt.ts";
import { StubPeripheral, discoverOne, drainEvents, nobleWorld, poweredOn, type NobleWorld } from "./noble-harness.ts";

// GATT through real noble on the virtual bindings, against what noble's hci gatt.js emits for each request.
afterEach(() => vi.restoreAllMocks());

async function connected(stub = new StubPeripheral()): Promise<NobleWorld & { peripheral: Peripheral }> {
  const world = nobleWorld({}, stub);
  await poweredOn(world.noble);
  const peripheral = await discoverOne(world.noble);
  await peripheral.connectAsync();
  await drainEvents();
  world.events.splice(0);
  return { ...world, peripheral };
}

async function glassesCharacteristics(peripheral: Peripheral): Promise<{ write: Characteristic; notify: Characteristic }> {
  const { characteristics } = await peripheral.discoverSomeServicesAndCharacteristicsAsync([glassesServiceUuid], []);
  return {
    write: characteristics.find((c) => c.uuid === glassesWriteUuid)!,
    notify: characteristics.find((c) => c.uuid === glassesNotifyUuid)!,
  };
}

describe("discovery", () => {
  it("lists GAP, GATT and tapwire's service; servicesDiscovered (with handles) comes before servicesDiscover", async () => {
    const { peripheral, events } = await connected();

    const services = await peripheral.discoverServicesAsync([]);

    expect(services.map((s) => s.uuid)).toEqual(["1800", "1801", glassesServiceUuid]);
    expect(events.map(([name]) => name)).toEqual(["servicesDiscovered", "servicesDiscover"]);
    expect(events[0]![2]).toEqual([
      { startHandle: 0x0001, endHandle: 0x0005, uuid: "1800" },
      { startHandle: 0x0006, endHandle: 0x0009, uuid: "1801" },
      { startHandle: 0x000a, endHandle: 0x000f, uuid: glassesServiceUuid },
    ]);
  });

  it("filters services and characteristics by UUID and names properties in gatt.js's bit order", async () => {
    const { peripheral, events } = await connected();

    const { write, notify } = await glassesCharacteristics(peripheral);

    expect(peripheral.services.map((s) => s.uuid)).toEqual([glassesServiceUuid]);
    expect(write.properties).toEqual(["writeWithoutResponse", "write"]);
    expect(notify.properties).toEqual(["notify"]);
    const raw = events.find(([name]) => name === "characteristicsDiscovered")![3] as Array<Record<string, number>>;
    expect(raw.map(({ startHandle, valueHandle, endHandle, rawProps }) => ({ startHandle, valueHandle, endHandle, rawProps }))).toEqual([
      { startHandle: 0x000b, valueHandle: 0x000c, endHandle: 0x000c, rawProps: 0x0c },
      { startHandle: 0x000d, valueHandle: 0x000e, endHandle: 0x000f, rawProps: 0x10 },
    ]);
  });

  it("the notify characteristic has its CCCD (2902); subscribing sets it to notifications", async () => {
    const { peripheral, stub } = await connected();
    const { notify } = await glassesCharacteristics(peripheral);

    const [cccd] = await notify.discoverDescriptorsAsync();
    expect(cccd!.uuid).toBe("2902");
    expect(await cccd!.readValueAsync()).toEqual(Buffer.of(0, 0));
    await notify.subscribeAsync();
    expect(await cccd!.readValueAsync()).toEqual(Buffer.of(1, 0));
    await notify.unsubscribeAsync();

    expect(stub.subscriptions).toEqual([true, false]);
  });
});

describe("reads and writes", () => {
  it("reads the device name; a read the characteristic does not allow reports an empty value, not an error", async () => {
    const { peripheral } = await connected();
    const { characteristics } = await peripheral.discoverSomeServicesAndCharacteristicsAsync(["1800"], ["2a00"]);
    const { write } = await glassesCharacteristics(peripheral);

    expect((await characteristics[0]!.readAsync()).toString("utf8")).toBe("tapwire-glasses");
    expect(await write.readAsync()).toEqual(Buffer.alloc(0));
  });

  it("a write request is delivered and answered; a write command is reported written as soon as it is sent", async () => {
    const { peripheral, stub } = await connected();
    const { write } = await glassesCharacteristics(peripheral);

    await write.writeAsync(Buffer.from("with response"), false);
    await write.writeAsync(Buffer.from("without"), true);

    expect(stub.writes.map((data) => data.toString())).toEqual(["with response", "without"]);
  });

  it("past the link's ATT_MTU a write command is dropped by the server, yet noble reports it written", async () => {
    const { peripheral, stub, events } = await connected(new StubPeripheral("f0:0d:00:00:00:cc", 40));
    const { write } = await glassesCharacteristics(peripheral);
    events.splice(0);

    await write.writeAsync(Buffer.alloc(38), true);

    expect(events.map(([name]) => name)).toEqual(["write"]);
    expect(stub.writes).toEqual([]);
  });

  it("a write request longer than the MTU goes as a long write and arrives whole", async () => {
    const { peripheral, stub } = await connected(new StubPeripheral("f0:0d:00:00:00:dd", 40));
    const { write } = await glassesCharacteristics(peripheral);

    await write.writeAsync(Buffer.alloc(100, 7), false);

    expect(stub.writes).toEqual([Buffer.alloc(100, 7)]);
  });

  it("a write request the characteristic refuses gets no answer at all, as gatt.js emits nothing on an ATT error", async () => {
    const { peripheral, bindings, events } = await connected();
    const { notify } = await glassesCharacteristics(peripheral);
    events.splice(0);

    bindings.write(peripheral.id, glassesServiceUuid, notify.uuid, Buffer.of(1), false);
    await drainEvents();

    expect(events).toEqual([]);
  });
});

describe("notifications", () => {
  it("arrive as handleNotify, then a read flagged as a notification; before subscribing nothing is sent", async () => {
    const { peripheral, stub, events } = await connected();
    const { notify } = await glassesCharacteristics(peripheral);
    const received: Array<[Buffer, boolean]> = [];
    notify.on("data", (data: Buffer, isNotification: boolean) => received.push([data, isNotification]));
    expect(stub.host!.sendNotification(stub, Buffer.from("early"))).toBe(false);

    await notify.subscribeAsync();
    events.splice(0);
    expect(stub.host!.sendNotification(stub, Buffer.from("hello"))).toBe(true);
    await drainEvents();

    expect(events).toEqual([
      ["handleNotify", peripheral.id, 0x000e, Buffer.from("hello")],
      ["read", peripheral.id, glassesServiceUuid, glassesNotifyUuid, Buffer.from("hello"), true],
    ]);
    expect(received).toEqual([[Buffer.from("hello"), true]]);
  });
});
