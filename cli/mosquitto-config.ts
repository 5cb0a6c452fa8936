import { existsSync } from "node:fs";
import { chown, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { loadOrCreateOperatorPki } from "../broker/operator-pki.ts";
import { makeDirectories } from "../core/data-dir.ts";
import { systemClock, systemRandom } from "../core/sources.ts";
import { ErrorCode, TapwireError } from "../protocol/errors.ts";
import { mosquittoAcl, mosquittoConf } from "../transport/mosquitto-config.ts";
import { dataDirFlag } from "./admin.ts";
import { integerFlag, parseFlags, requireFlag } from "./args.ts";

export const mosquittoConfigUsage = `tapwire mosquitto-config --out DIR [--data-dir .tapwire] [--host 127.0.0.1] [--port 8883] [--operator NAME …] [--worker NAME …] [--user mosquitto] [--crl FILE]
  Writes mosquitto.conf and tapwire.acl for running the settlement service against Mosquitto, generated from
  tapwire's topic map, with copies of the operator CA and the broker's certificate and key that Mosquitto's own
  user can read. Then: mosquitto -c DIR/mosquitto.conf, and tapwire settle --broker-url mqtts://HOST:PORT --protocol 5.
  --worker: a settlement worker of a shared group (tapwire settle --instance NAME), each with its own certificate.
  --crl: the revocation list tapwire pki crl writes; Mosquitto then refuses revoked hubs and agents at connect.
  example: tapwire mosquitto-config --out /etc/mosquitto/tapwire --port 8883`;

/** The uid and gid of a system user from /etc/passwd, if there is one. */
async function systemUser(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const passwd = await readFile("/etc/passwd", "utf8").catch(() => "");
  const line = passwd.split("\n").find((entry) => entry.startsWith(`${name}:`));
  if (line === undefined) return undefined;
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

export async function mosquittoConfigCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    ...dataDirFlag,
    out: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    operator: { type: "string", multiple: true },
    worker: { type: "string", multiple: true },
    user: { type: "string", default: "mosquitto" },
    crl: { type: "string" },
  });
  const outDir = resolve(requireFlag(values.out, "out"));
  const dataDir = values["data-dir"];
  if (!existsSync(join(dataDir, "pki"))) {
    throw new TapwireError(`no operator PKI in ${resolve(dataDir)}: run tapwire settle or an enrol command there first`, ErrorCode.ConfigInvalid);
  }
  const port = integerFlag(values.port, "port", 1, 65_535, 8_883);
  const pki = await loadOrCreateOperatorPki(dataDir, systemClock, systemRandom);
  makeDirectories(outDir, { mode: 0o750, what: "--out folder" });
  const files = { caFile: join(outDir, "ca.pem"), certFile: join(outDir, "server.pem"), keyFile: join(outDir, "server.key"), aclFile: join(outDir, "tapwire.acl") };
  await writeFile(files.caFile, pki.ca.certPem, { mode: 0o644 });
  await writeFile(files.certFile, pki.server.certPem, { mode: 0o644 });
  await writeFile(files.keyFile, pki.server.keyPem, { mode: 0o640 });
  await writeFile(files.aclFile, mosquittoAcl(values.operator ?? [], values.worker ?? []), { mode: 0o644 });
  await writeFile(join(outDir, "mosquitto.conf"), mosquittoConf({ ...files, host: values.host, port, user: values.user, ...(values.crl ? { crlFile: resolve(values.crl) } : {}) }), { mode: 0o644 });
  // Started as root, Mosquitto drops to its own user, which must read the key: give it the files.
  const owner = process.getuid?.() === 0 ? await systemUser(values.user) : undefined;
  if (owner) for (const path of [outDir, ...Object.values(files)]) await chown(path, owner.uid, owner.gid);
  process.stdout.write(`wrote ${join(outDir, "mosquitto.conf")} and ${files.aclFile}\n`);
  if (owner) process.stdout.write(`(user ${values.user} must be able to reach ${outDir}: every folder above it searchable)\n`);
  return 0;
}
