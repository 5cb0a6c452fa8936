import { X509Certificate, createHash } from "node:crypto";
import { enrollMerchantFeed } from "../broker/enrolment.ts";
import { parsePrincipalName } from "../protocol/topics.ts";
import { MerchantFeedClient } from "../sdk/merchant-feed.ts";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { EventCursor, type Cursor } from "../broker/merchant-events/event-cursor.ts";
import { MerchantEventDispatch, dispatchDefaults } from "../broker/merchant-events/event-dispatch.ts";
import { EvidenceReader } from "../broker/merchant-events/evidence-reader.ts";
import { postEvent } from "../broker/merchant-events/webhook.ts";
import type { MerchantEvent } from "../protocol/merchant-feed.ts";
import { ledgerFileName, makeDirectories, requireDataDir } from "../core/data-dir.ts";
import { logger } from "../core/log.ts";
import { systemClock } from "../core/sources.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { dataDirFlag, enrolmentContext, makeBundleDir, withAdmin, writeBundle } from "./admin.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";
import { stopSignal } from "./signals.ts";

const log = logger("tapwire:merchant-events");

export const merchantEventsUsage = `tapwire merchant enroll-feed --merchant-id M [--out DIR] [--data-dir .tapwire]
  Issues the merchant's feed certificate (CN merchants/M) and writes it with its key, the CA and the service's public
  key to --out (default DIR/merchants/M); a certificate issued before for M is revoked.
  example: tapwire merchant enroll-feed --merchant-id m1 --out m1-feed
tapwire merchant events --mqtt URL --bundle DIR [--protocol 4|5] [--position-file FILE]
  Follows the merchant's signed event feed on the broker (tapwire/v1/merchants/M/events), each event checked against
  the service's key and printed as one JSON line, exactly once: the position is kept in --position-file (default
  DIR/feed.position) and sent to the service on each connect, so a restart resumes where it stopped. Until Ctrl-C.
  example: tapwire merchant events --mqtt mqtts://127.0.0.1:8883 --bundle m1-feed
tapwire merchant events --merchant M [--data-dir .tapwire] [--follow] [--poll-ms 500]
    [--webhook URL --secret-file FILE [--timeout-ms 10000]] [--cursor-file FILE]
  The merchant's events (payment.approved|declined|held|reversed, refund.succeeded|failed, dispute.opened, payout),
  read from the evidence chain of a settlement data dir, beside a running \`tapwire settle\`. Without --webhook: one JSON line
  each on stdout. With --webhook: each POSTed in order as JSON, headers tapwire-delivery (the same id on every
  retry: drop repeats) and tapwire-signature (t=MS,v1=HMAC-SHA256 of "MS.BODY" with the secret in FILE); anything
  but a 2xx is retried with backoff (1 s doubling to 5 min), later events waiting behind it. The position is kept
  in --cursor-file (default DIR/webhooks/M-<url hash>.cursor; none without --webhook unless given), so a restart
  resumes where delivery stopped. --follow keeps polling until Ctrl-C or SIGTERM.
  example: tapwire merchant events --merchant m1 --follow --webhook http://127.0.0.1:9000/hooks --secret-file whsec.txt`;

const retryDelayMsMin = 1_000;
const retryDelayMsMax = 5 * 60_000;

export async function merchantEnrollFeedCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...dataDirFlag, "merchant-id": { type: "string" }, out: { type: "string" } });
  const merchantId = requireFlag(values["merchant-id"], "merchant-id");
  const outDir = values.out ?? join(values["data-dir"], "merchants", merchantId);
  const bundle = await withAdmin(
    values["data-dir"],
    (service, pki) => {
      makeBundleDir(outDir);
      return enrollMerchantFeed(enrolmentContext(service, pki), service.revokedCertificates, { merchantId });
    },
    "create",
  );
  await writeBundle(outDir, bundle);
  process.stdout.write(`merchant ${merchantId} feed certificate issued; certificate and key in ${outDir}\n`);
  return 0;
}

export async function merchantEventsCommand(argv: string[]): Promise<number> {
  if (argv.includes("--mqtt")) return followFeed(argv);
  const { values } = parseFlags(argv, {
    ...dataDirFlag,
    merchant: { type: "string" },
    follow: { type: "boolean", default: false },
    "poll-ms": { type: "string" },
    webhook: { type: "string" },
    "secret-file": { type: "string" },
    "timeout-ms": { type: "string" },
    "cursor-file": { type: "string" },
  });
  const merchantId = requireFlag(values.merchant, "merchant");
  const dataDir = values["data-dir"];
  const pollMs = integerFlag(values["poll-ms"], "poll-ms", 10, 60_000, 500);
  const timeoutMs = integerFlag(values["timeout-ms"], "timeout-ms", 100, 120_000, 10_000);
  const webhook = values.webhook;
  let secret: string | undefined;
  if (webhook !== undefined) {
    if (!/^https?:\/\//.test(webhook)) throw new TapwireError(`--webhook must be an http(s) URL, got ${JSON.stringify(webhook)}`, ErrorCode.ConfigInvalid);
    secret = readSecret(requireFlag(values["secret-file"], "secret-file"));
  }
  const cursorFile = values["cursor-file"] ?? (webhook ? join(dataDir, "webhooks", `${merchantId}-${createHash("sha256").update(webhook).digest("hex").slice(0, 12)}.cursor`) : undefined);
  await requireDataDir(dataDir);
  if (cursorFile !== undefined) makeDirectories(dirname(cursorFile), { mode: 0o700, what: "cursor folder" });
  const reader = new EvidenceReader(join(dataDir, ledgerFileName));
  const stopping = stopSignal();
  try {
    const deliver = webhook && secret ? webhookDelivery(webhook, secret, timeoutMs) : printDelivery;
    const dispatch = new MerchantEventDispatch({ reader, merchantId, cursor: cursorFile ? new EventCursor(cursorFile) : memoryCursor(), deliver, ...dispatchDefaults });
    let retryDelayMs = retryDelayMsMin;
    while (!stopping.signal.aborted) {
      const { blocked } = await dispatch.step();
      if (!values.follow && !blocked) break;
      await sleep(blocked ? retryDelayMs : pollMs, stopping.signal);
      retryDelayMs = blocked ? Math.min(retryDelayMsMax, retryDelayMs * 2) : retryDelayMsMin;
    }
  } finally {
    stopping.dispose();
    reader.close();
  }
  return 0;
}

/** The merchant's side of the MQTT feed, from the files `merchant enroll-feed` wrote. */
async function followFeed(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    mqtt: { type: "string" },
    bundle: { type: "string" },
    protocol: { type: "string" },
    "position-file": { type: "string" },
  });
  const url = requireFlag(values.mqtt, "mqtt");
  if (!/^mqtts:\/\//.test(url)) throw new TapwireError(`--mqtt must be an mqtts:// URL, got ${JSON.stringify(url)}`, ErrorCode.ConfigInvalid);
  const dir = requireFlag(values.bundle, "bundle");
  const protocolVersion = integerFlag(values.protocol, "protocol", 4, 5, 4) as 4 | 5;
  const read = (name: string) => readBundleFile(join(dir, name));
  const certPem = read("cert.pem");
  const merchant = parsePrincipalName(new X509Certificate(certPem).subject.replace(/^CN=/, ""));
  if (merchant?.kind !== "merchant") throw new TapwireError(`${join(dir, "cert.pem")} is not a merchant's feed certificate`, ErrorCode.ConfigInvalid);
  const client = new MerchantFeedClient({
    url,
    merchantId: merchant.id,
    tls: { caPem: read("ca.pem"), certPem, keyPem: read("key.pem") },
    servicePublicKeyPem: read("service.pub.pem"),
    protocolVersion,
    position: new EventCursor(values["position-file"] ?? join(dir, "feed.position")),
    onEvent: (event) => void process.stdout.write(`${JSON.stringify(event)}\n`),
  });
  const stopping = stopSignal();
  client.start();
  try {
    await new Promise<void>((resolve) => stopping.signal.addEventListener("abort", () => resolve(), { once: true }));
  } finally {
    stopping.dispose();
    await client.stop();
  }
  return 0;
}

function readBundleFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new TapwireError(`--bundle: cannot read ${path}: ${(error as Error).message}`, ErrorCode.ConfigInvalid, { path });
  }
}

function readSecret(path: string): string {
  let secret: string;
  try {
    secret = readFileSync(path, "utf8").trim();
  } catch (error) {
    throw new TapwireError(`--secret-file: cannot read ${path}: ${(error as Error).message}`, ErrorCode.ConfigInvalid);
  }
  if (secret.length < 16) throw new TapwireError(`the webhook secret in ${path} is shorter than 16 characters`, ErrorCode.ConfigInvalid);
  return secret;
}

async function printDelivery(event: MerchantEvent): Promise<boolean> {
  process.stdout.write(`${JSON.stringify(event)}\n`);
  return true;
}

function webhookDelivery(url: string, secret: string, timeoutMs: number): (event: MerchantEvent) => Promise<boolean> {
  return async (event) => {
    const result = await postEvent(url, secret, event, systemClock.nowMs(), timeoutMs);
    if (!result.ok) log.warn({ deliveryId: event.deliveryId, why: result.why }, "webhook delivery failed; retrying with backoff");
    return result.ok;
  };
}

/** Without a cursor file (printing only): the position lives as long as the command. */
function memoryCursor(): Cursor {
  let seq = 0;
  return {
    read: () => seq,
    write: (next) => {
      seq = next;
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
