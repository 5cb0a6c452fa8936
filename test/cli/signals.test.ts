import { describe, expect, it } from "vitest";
import { stopSignal } from "../../cli/signals.ts";

describe("stopSignal", () => {
  it("listens for SIGINT and SIGTERM until disposed, leaving no listener behind", () => {
    const before = { int: process.listenerCount("SIGINT"), term: process.listenerCount("SIGTERM") };

    const stopping = stopSignal();
    const during = { int: process.listenerCount("SIGINT"), term: process.listenerCount("SIGTERM") };
    stopping.dispose();

    expect(during).toEqual({ int: before.int + 1, term: before.term + 1 });
    expect({ int: process.listenerCount("SIGINT"), term: process.listenerCount("SIGTERM") }).toEqual(before);
    expect(stopping.signal.aborted).toBe(false);
  });
});
