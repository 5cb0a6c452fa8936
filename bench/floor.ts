import { createSign, createVerify, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { generateP256 } from "../protocol/keys.ts";
import { cpuUsPerOp, mqttStage } from "./stages.ts";

/**
 * The floor: the CPU one signed payment cannot do without on this machine, measured in the same run as the load
 * so a noisy machine moves both. Three ES256 signatures (wallet cryptogram, hub request, service decision) and
 * three verifications, one mutual-TLS MQTT round trip with no payload work, and one group-committed ledger post.
 * Each part is measured `floorRounds` times and its least kept: noise, a cold JIT (the first MQTT round of a process
 * cost 144 µs against 62-78 after it) and other work only ever add time, and a floor is what cannot be avoided.
 */
export interface Floor {
  es256SignUs: number;
  es256VerifyUs: number;
  mqttRoundTripUs: number;
  ledgerPostUs: number;
  usPerPayment: number;
  cores: number;
  /** What the machine could approve per second if it did nothing but the floor on every core. */
  paymentsPerSecond: number;
  /** Measurements of each part; the figures above are each part's least. */
  rounds: number;
}

export const floorRounds = 3;

const es256Iterations = 2_000;
/** A signed request's size, roughly: what each signature covers. */
const messageBytes = 300;
const ledgerBatch = 64;
const ledgerCommits = 100;
/** Transfer, two postings, payment, stored decision: about what one payment writes. */
const rowBytes = 1_500;

function es256(): { signUs: number; verifyUs: number } {
  const { privateKey, publicKey } = generateP256();
  const message = randomBytes(messageBytes);
  const signature = createSign("sha256").update(message).sign({ key: privateKey, dsaEncoding: "ieee-p1363" });
  return {
    signUs: cpuUsPerOp(es256Iterations, () => createSign("sha256").update(message).sign({ key: privateKey, dsaEncoding: "ieee-p1363" })),
    verifyUs: cpuUsPerOp(es256Iterations, () => createVerify("sha256").update(message).verify({ key: publicKey, dsaEncoding: "ieee-p1363" }, signature)),
  };
}

/** CPU per payment of a durable group commit (WAL, synchronous=FULL) of a full batch's rows. */
function ledgerPostUs(dir: string, round: number): number {
  const db = new Database(join(dir, `floor-${round}.sqlite`));
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const row = Buffer.alloc(rowBytes, 1);
    const commit = db.transaction(() => {
      for (let index = 0; index < ledgerBatch; index += 1) insert.run(row);
    });
    return cpuUsPerOp(ledgerCommits, () => commit.immediate()) / ledgerBatch;
  } finally {
    db.close();
  }
}

export async function measureFloor(): Promise<Floor> {
  const dir = mkdtempSync(join(tmpdir(), "tapwire-floor-"));
  try {
    let signUs = Number.POSITIVE_INFINITY;
    let verifyUs = Number.POSITIVE_INFINITY;
    let mqttUs = Number.POSITIVE_INFINITY;
    let ledgerUs = Number.POSITIVE_INFINITY;
    for (let round = 0; round < floorRounds; round += 1) {
      const crypto = es256();
      signUs = Math.min(signUs, crypto.signUs);
      verifyUs = Math.min(verifyUs, crypto.verifyUs);
      mqttUs = Math.min(mqttUs, (await mqttStage(dir)).usPerRoundTrip);
      ledgerUs = Math.min(ledgerUs, ledgerPostUs(dir, round));
    }
    return floorOf({ es256SignUs: signUs, es256VerifyUs: verifyUs, mqttRoundTripUs: mqttUs, ledgerPostUs: ledgerUs }, floorRounds);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type FloorParts = Pick<Floor, "es256SignUs" | "es256VerifyUs" | "mqttRoundTripUs" | "ledgerPostUs">;

function floorOf(parts: FloorParts, rounds: number): Floor {
  const usPerPayment = 3 * parts.es256SignUs + 3 * parts.es256VerifyUs + parts.mqttRoundTripUs + parts.ledgerPostUs;
  const cores = availableParallelism();
  return { ...parts, usPerPayment, cores, paymentsPerSecond: (cores * 1_000_000) / usPerPayment, rounds };
}

/**
 * Each part's least over two measurements (before and after the load): three rounds in a row can all fall in one
 * slow spell of a shared machine, and a floor measured high makes the run look efficient (once here: 492 µs against
 * 321-335 in the runs around it, an efficiency of 0.54 for a run like those at 0.35).
 */
export function leastFloor(a: Floor, b: Floor): Floor {
  return floorOf(
    {
      es256SignUs: Math.min(a.es256SignUs, b.es256SignUs),
      es256VerifyUs: Math.min(a.es256VerifyUs, b.es256VerifyUs),
      mqttRoundTripUs: Math.min(a.mqttRoundTripUs, b.mqttRoundTripUs),
      ledgerPostUs: Math.min(a.ledgerPostUs, b.ledgerPostUs),
    },
    a.rounds + b.rounds,
  );
}

/** approved/s ÷ (cores ÷ floor CPU per payment): the share of what this machine's floor allows that the run reached. */
export function efficiency(approvedPerSecond: number, floor: Floor): number {
  return approvedPerSecond / floor.paymentsPerSecond;
}
