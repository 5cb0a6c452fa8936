import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { Clearing } from "../../broker/clearing/clearing.ts";
import { EvidenceStore } from "../../broker/evidence/evidence-store.ts";
import type { SettlementFixture } from "../settlement/fixtures.ts";

/** The schema the pain.001 files must validate against (test/vectors/iso20022/README.md). */
export const pain001Xsd = new URL("../vectors/iso20022/pain.001.001.03.xsd", import.meta.url).pathname;

export const payee = { name: "Corner Café Ltd", iban: "DE89370400440532013000", bic: "COBADEFFXXX" };
export const debtor = { name: "Tapwire Payments", iban: "GB82WEST12345698765432", bic: "NWBKGB2LXXX" };

/** The fixture's merchant m1 at 150 bps + 0.10 per payment, with its payee and the operator's debtor account set. */
export function clearingOf(f: SettlementFixture): Clearing {
  const db = f.service.database;
  const clearing = new Clearing({ db, ledger: f.service.ledger, registry: f.service.registry, evidence: new EvidenceStore(db), clock: f.clock });
  clearing.setFees("m1", { bps: 150, fixedMinor: 10 });
  clearing.setPayee("m1", payee);
  clearing.setDebtor(debtor);
  return clearing;
}

/** Moves the fixture's clock to `hours` past midnight UTC of the day after the current one. */
export function nextDay(f: SettlementFixture, hours = 1): void {
  const now = f.clock.nowMs();
  const nextMidnight = Math.floor(now / 86_400_000) * 86_400_000 + 86_400_000;
  f.clock.advance(nextMidnight + hours * 3_600_000 - now);
}

/**
 * xmllint's verdict on the document against the XSD: its exit status and what it printed (stderr: "… validates"
 * or the errors). xmllint must be installed (Debian libxml2-utils, .ci/run installs it): a missing one fails here.
 */
export function xmllintValidate(xml: string): { code: number | null; output: string } {
  const file = join(mkdtempSync(join(tmpdir(), "tapwire-pain001-")), "payout.xml");
  writeFileSync(file, xml);
  const result = spawnSync("xmllint", ["--noout", "--schema", pain001Xsd, file], { encoding: "utf8", timeout: 30_000 });
  expect(result.error, "xmllint must be installed (apt-get install libxml2-utils)").toBeUndefined();
  return { code: result.status, output: result.stderr };
}
