import { MessageChannel } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { awaitReply } from "../../broker/store/pg-sync-db.ts";

const reply = (id: number, n: string) => ({ id, ok: true, rows: [{ n }], rowCount: 1 });

describe("PgSyncDb's wait for the connection thread's reply", () => {
  const channel = new MessageChannel();
  const wake = new Int32Array(new SharedArrayBuffer(4));
  afterEach(() => {
    channel.port1.close();
  });

  it("takes its own request's reply by id, dropping a late reply to a request given up on", () => {
    // Request 6 timed out; its reply arrives now, just before request 7's (whose id the thread stored last).
    channel.port2.postMessage(reply(6, "request 6's rows"));
    channel.port2.postMessage(reply(7, "request 7's rows"));
    Atomics.store(wake, 0, 7);

    expect(awaitReply(channel.port1, wake, 7, 1_000)).toMatchObject({ id: 7, rows: [{ n: "request 7's rows" }] });
  });

  it("is not ended by a wake-up meant for the previous request: no reply by the deadline is no reply", () => {
    // The thread stored request 8's id and notifies late: request 9's wait must not take that for its answer.
    Atomics.store(wake, 0, 8);

    expect(awaitReply(channel.port1, wake, 9, 5)).toBeUndefined();
  });
});
