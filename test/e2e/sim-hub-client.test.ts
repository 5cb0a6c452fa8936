import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { DecisionReply } from "../../firmware-bridge/mqtt/hub-link.ts";
import { decodeBody } from "../../protocol/cbor.ts";
import { openSign1 } from "../../protocol/cose.ts";
import { ErrorCode, TapwireError, isTapwireError } from "../../protocol/errors.ts";
import { generateP256 } from "../../protocol/keys.ts";
import { bodyHash, paymentRequestSchema, parseBody, protocolVersion, type Decision } from "../../protocol/messages.ts";
import { verifyCryptogram } from "../../protocol/payer.ts";
import { ManualClock, SeededRandom } from "../../core/sources.ts";
import { HubRequestSigner, type SignedRequest } from "../../simulator/hub-client/request-signer.ts";
import { SimHubClient, type DecisionTransport, type SimHubClientOptions } from "../../simulator/hub-client/sim-hub-client.ts";
import { SimWallet } from "../../simulator/hub-client/sim-wallet.ts";

const hubKeys = generateP256();
const walletKeys = generateP256();

interface Call {
  payload: Buffer;
  requestId: string;
  resolve: (reply: DecisionReply) => void;
  reject: (error: TapwireError) => void;
}

/** A transport the test answers by hand. */
class FakeTransport implements DecisionTransport {
  readonly calls: Call[] = [];
  request(payload: Buffer, requestId: string): Promise<DecisionReply> {
    return new Promise((resolve, reject) => this.calls.push({ payload, requestId, resolve, reject }));
  }
  sentIds(): string[] {
    return this.calls.map((call) => call.requestId);
  }
}

function decisionFor(request: SignedRequest, overrides: Partial<Decision> = {}): DecisionReply {
  const decision: Decision = {
    type: "decision",
    v: protocolVersion,
    requestId: request.requestId,
    requestType: "payment_request",
    requestHash: new Uint8Array(request.hash),
    principalKind: "hub",
    hubId: "h1",
    status: "approved",
    code: 0,
    reason: "approved",
    iat: 1,
    exp: 2,
    ...overrides,
  };
  return { bytes: Buffer.from(`decision:${request.requestId}`), decision };
}

let clock: ManualClock;
let signer: HubRequestSigner;
let wallet: SimWallet;
let transport: FakeTransport;

function newClient(options: Partial<SimHubClientOptions> = {}): SimHubClient {
  return new SimHubClient({ transport, inFlightMax: 2, retryDelayMsMin: 10, retryDelayMsMax: 40, random: new SeededRandom(7), ...options });
}

const timeout = () => new TapwireError("no decision", ErrorCode.DecisionTimeout);

beforeEach(() => {
  vi.useFakeTimers();
  clock = new ManualClock();
  signer = new HubRequestSigner({ hubId: "h1", merchantId: "m1", privateKey: hubKeys.privateKey, clock, random: new SeededRandom(1) });
  wallet = new SimWallet({ walletId: "w1", currency: "EUR", privateKey: walletKeys.privateKey });
  transport = new FakeTransport();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("HubRequestSigner and SimWallet", () => {
  it("signs a valid payment request with the next seq, the hub key and a wallet cryptogram with the next ATC", () => {
    const first = signer.payment(wallet, 1_250);
    const second = signer.payment(wallet, 800, { mode: "tag" });

    const payload = openSign1(first.bytes, hubKeys.publicKey);
    const body = parseBody(paymentRequestSchema, decodeBody(payload));
    expect(body).toMatchObject({ hubId: "h1", merchantId: "m1", requestId: "h1-1", seq: 1, iat: clock.nowMs(), exp: clock.nowMs() + 60_000, amountMinor: 1_250 });
    expect(first.hash).toEqual(bodyHash(payload));
    expect(() =>
      verifyCryptogram(
        { walletId: "w1", hubId: "h1", amountMinor: 1_250, currency: "EUR", unpredictableNumber: body.payer.kind === "hce" ? body.payer.unpredictableNumber : new Uint8Array(), atc: 1 },
        body.payer.kind === "hce" ? body.payer.cryptogram : new Uint8Array(),
        walletKeys.publicKey,
      ),
    ).not.toThrow();
    expect([second.seq, second.requestId, second.body.mode, second.body.payer.kind === "hce" && second.body.payer.atc]).toEqual([2, "h1-2", "tag", 2]);
    expect([signer.lastSeq, wallet.atc]).toEqual([2, 3]);
  });

  it("signs an overridden seq without moving the hub's own counter", () => {
    signer.payment(wallet, 100);

    const replay = signer.payment(wallet, 100, { seq: 1, requestId: "h1-again" });

    expect([replay.seq, replay.requestId, signer.lastSeq]).toEqual([1, "h1-again", 1]);
    expect(signer.payment(wallet, 100).seq).toBe(2);
  });
});

describe("SimHubClient", () => {
  it("sends the same bytes again after a timeout and resolves with the decision", async () => {
    const client = newClient();
    const request = signer.payment(wallet, 500);
    const outcome = client.submit(request);

    transport.calls[0]!.reject(timeout());
    await vi.advanceTimersByTimeAsync(50);
    transport.calls[1]!.resolve(decisionFor(request));

    expect(await outcome).toMatchObject({ requestId: "h1-1", seq: 1, attempts: 2, decision: { status: "approved" } });
    expect(transport.calls[1]!.payload.equals(request.bytes)).toBe(true);
    expect(transport.calls[0]!.payload.equals(request.bytes)).toBe(true);
    expect(client.stats).toEqual({ sent: 2, retried: 1, decided: 1, failed: 0 });
  });

  it("keeps at most inFlightMax requests on the wire, in submission order", async () => {
    const client = newClient();
    const requests = [1, 2, 3, 4].map(() => signer.payment(wallet, 100));
    const outcomes = requests.map((request) => client.submit(request));

    expect(transport.sentIds()).toEqual(["h1-1", "h1-2"]);
    transport.calls[1]!.resolve(decisionFor(requests[1]!));
    await vi.advanceTimersByTimeAsync(0);
    expect(transport.sentIds()).toEqual(["h1-1", "h1-2", "h1-3"]);
    transport.calls[0]!.resolve(decisionFor(requests[0]!));
    transport.calls[2]!.resolve(decisionFor(requests[2]!));
    await vi.advanceTimersByTimeAsync(0);
    transport.calls[3]!.resolve(decisionFor(requests[3]!));

    expect((await Promise.all(outcomes)).map((outcome) => outcome.seq)).toEqual([1, 2, 3, 4]);
    expect(client.inFlight).toBe(0);
  });

  it("after a failure sends nothing new until the wire is empty and the backoff passed, then the oldest first", async () => {
    const client = newClient();
    const requests = [1, 2, 3].map(() => signer.payment(wallet, 100));
    const outcomes = requests.map((request) => client.submit(request));

    transport.calls[0]!.reject(new TapwireError("link dropped", ErrorCode.Offline));
    await vi.advanceTimersByTimeAsync(100);
    expect(transport.sentIds()).toEqual(["h1-1", "h1-2"]);
    transport.calls[1]!.reject(timeout());
    await vi.advanceTimersByTimeAsync(100);

    expect(transport.sentIds()).toEqual(["h1-1", "h1-2", "h1-1", "h1-2"]);
    for (const call of transport.calls.slice(2)) call.resolve(decisionFor(requests[Number(call.requestId.slice(3)) - 1]!));
    await vi.advanceTimersByTimeAsync(0);
    transport.calls[4]!.resolve(decisionFor(requests[2]!));
    expect((await Promise.all(outcomes)).map((outcome) => [outcome.seq, outcome.attempts])).toEqual([[1, 2], [2, 2], [3, 1]]);
  });

  it("retries an Overloaded decline with the same bytes; any other decline is the outcome", async () => {
    const client = newClient();
    const overloaded = signer.payment(wallet, 100);
    const declined = signer.payment(wallet, 100);
    const first = client.submit(overloaded);
    const second = client.submit(declined);

    transport.calls[0]!.resolve(decisionFor(overloaded, { status: "declined", code: ErrorCode.Overloaded }));
    transport.calls[1]!.resolve(decisionFor(declined, { status: "declined", code: ErrorCode.InsufficientFunds }));
    await vi.advanceTimersByTimeAsync(100);
    transport.calls[2]!.resolve(decisionFor(overloaded));

    expect((await first).decision.status).toBe("approved");
    expect((await second).decision.code).toBe(ErrorCode.InsufficientFunds);
    expect(transport.calls[2]!.payload.equals(overloaded.bytes)).toBe(true);
  });

  it("fails with the last error after attemptsMax sends, and at once on an error retrying cannot fix", async () => {
    const client = newClient({ attemptsMax: 2 });
    const exhausted = client.submit(signer.payment(wallet, 100)).catch((error: unknown) => error);
    const refused = client.submit(signer.payment(wallet, 100)).catch((error: unknown) => error);

    transport.calls[1]!.reject(new TapwireError("refused", ErrorCode.ConnectRefused));
    transport.calls[0]!.reject(timeout());
    await vi.advanceTimersByTimeAsync(100);
    transport.calls[2]!.reject(timeout());

    expect(isTapwireError(await exhausted, ErrorCode.DecisionTimeout)).toBe(true);
    expect(isTapwireError(await refused, ErrorCode.ConnectRefused)).toBe(true);
    expect(client.stats.failed).toBe(2);
  });

  it("refuses a decision that names other bytes (DecisionMismatch)", async () => {
    const client = newClient();
    const request = signer.payment(wallet, 100);
    const other = signer.payment(wallet, 100);
    const outcome = client.submit(request).catch((error: unknown) => error);

    transport.calls[0]!.resolve(decisionFor(other, { requestId: request.requestId }));

    expect(isTapwireError(await outcome, ErrorCode.DecisionMismatch)).toBe(true);
  });

  it("bounds the outbox (OutboxFull); stop() cancels what waits and what fails, keeps a decision that still arrives", async () => {
    const client = newClient({ outboxMax: 3 });
    const requests = [1, 2, 3].map(() => signer.payment(wallet, 100));
    const accepted = requests.map((request) => client.submit(request).catch((error: unknown) => error));

    const overflow = await client.submit(signer.payment(wallet, 100)).catch((error: unknown) => error);
    client.stop();
    transport.calls[0]!.reject(timeout());
    transport.calls[1]!.resolve(decisionFor(requests[1]!));
    const afterStop = await client.submit(signer.payment(wallet, 100)).catch((error: unknown) => error);

    expect(isTapwireError(overflow, ErrorCode.OutboxFull)).toBe(true);
    const [first, second, third] = await Promise.all(accepted);
    expect(isTapwireError(first, ErrorCode.Cancelled)).toBe(true);
    expect(second).toMatchObject({ requestId: "h1-2", decision: { status: "approved" } });
    expect(isTapwireError(third, ErrorCode.Cancelled)).toBe(true);
    expect(isTapwireError(afterStop, ErrorCode.Cancelled)).toBe(true);
    expect(transport.calls).toHaveLength(2);
  });
});
