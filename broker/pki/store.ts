import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { isId } from "../../protocol/ids.ts";
import { parsePrincipalName } from "../../protocol/topics.ts";
import type { CertifiedKey } from "./certificates.ts";

/**
 * PEM files in a data directory: `ca.cert.pem` / `ca.key.pem`, `server.cert.pem` / `server.key.pem`, and one
 * pair per principal under its name (`hubs/h1.cert.pem`). Keys are written 0600 and folders 0700, because the
 * CA key signs every identity in the system.
 */
export class PkiStore {
  constructor(private readonly dataDir: string) {}

  saveCa(ca: CertifiedKey): Promise<void> {
    return this.savePair("ca", ca);
  }

  loadCa(): Promise<CertifiedKey | undefined> {
    return this.loadPair("ca");
  }

  saveServer(server: CertifiedKey): Promise<void> {
    return this.savePair("server", server);
  }

  loadServer(): Promise<CertifiedKey | undefined> {
    return this.loadPair("server");
  }

  /** A principal's certificate and, when this machine holds it, its key (`name` = principalName). */
  async saveIdentity(name: string, identity: { certPem: string; keyPem?: string }): Promise<void> {
    this.checkName(name);
    await this.write(`${name}.cert.pem`, identity.certPem, 0o644);
    if (identity.keyPem !== undefined) await this.write(`${name}.key.pem`, identity.keyPem, 0o600);
  }

  async loadIdentity(name: string): Promise<CertifiedKey | undefined> {
    this.checkName(name);
    return this.loadPair(name);
  }

  async loadCertificate(name: string): Promise<string | undefined> {
    this.checkName(name);
    return this.read(`${name}.cert.pem`);
  }

  private checkName(name: string): void {
    if (parsePrincipalName(name) === undefined) {
      throw new TapwireError(`${JSON.stringify(name)} is not a principal name`, ErrorCode.CertificateInvalid);
    }
  }

  private async savePair(stem: string, pair: CertifiedKey): Promise<void> {
    await this.write(`${stem}.cert.pem`, pair.certPem, 0o644);
    await this.write(`${stem}.key.pem`, pair.keyPem, 0o600);
  }

  private async loadPair(stem: string): Promise<CertifiedKey | undefined> {
    const certPem = await this.read(`${stem}.cert.pem`);
    const keyPem = await this.read(`${stem}.key.pem`);
    if (certPem === undefined || keyPem === undefined) return undefined;
    return { certPem, keyPem };
  }

  private async write(relative: string, text: string, mode: number): Promise<void> {
    const path = this.pathOf(relative);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, text, { mode });
    // writeFile keeps the mode of a file that already exists; a key must never stay readable by others.
    await chmod(path, mode);
  }

  private async read(relative: string): Promise<string | undefined> {
    try {
      return await readFile(this.pathOf(relative), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  private pathOf(relative: string): string {
    const parts = relative.split("/");
    const stems = parts.map((part) => part.replace(/\.(cert|key)\.pem$/, ""));
    // ids may contain dots, so "." and ".." pass isId and must be refused here.
    if (!stems.every((stem) => isId(stem) && stem !== "." && stem !== "..")) {
      throw new TapwireError(`unsafe PKI file name ${JSON.stringify(relative)}`, ErrorCode.CertificateInvalid);
    }
    return join(this.dataDir, ...parts);
  }
}
