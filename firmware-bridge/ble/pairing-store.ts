import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { z } from "zod";
import { ErrorCode, TapwireError } from "../../protocol/errors.ts";
import { idSchema } from "../../protocol/ids.ts";
import { importPublicPem } from "../../protocol/keys.ts";

/** The one pair of glasses a hub trusts: who they are, whose they are, and their key. */
export interface GlassesBinding {
  glassesId: string;
  ownerId: string;
  /** The glasses' P-256 public key (SPKI PEM), learned at pairing. */
  publicKeyPem: string;
  pairedAtMs: number;
}

/**
 * Holds at most one binding. `replace` and `clear` remove the previous binding and its key entirely:
 * pairing again must leave nothing of the old glasses behind.
 */
export interface PairingStore {
  get(): GlassesBinding | undefined;
  replace(binding: GlassesBinding): void;
  clear(): void;
}

export const glassesBindingSchema = z.object({
  glassesId: idSchema,
  ownerId: idSchema,
  publicKeyPem: z.string().max(1024).refine((pem) => pem.includes("BEGIN PUBLIC KEY"), "must be an SPKI PEM"),
  pairedAtMs: z.number().int().min(0),
});

function checked(binding: GlassesBinding): GlassesBinding {
  const result = glassesBindingSchema.safeParse(binding);
  if (!result.success) {
    throw new TapwireError(`invalid glasses binding: ${result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, ErrorCode.ConfigInvalid);
  }
  importPublicPem(result.data.publicKeyPem);
  return { ...result.data };
}

export class MemoryPairingStore implements PairingStore {
  private binding: GlassesBinding | undefined;

  get(): GlassesBinding | undefined {
    return this.binding ? { ...this.binding } : undefined;
  }

  replace(binding: GlassesBinding): void {
    this.binding = checked(binding);
  }

  clear(): void {
    this.binding = undefined;
  }
}

/** One JSON file, written whole to a temporary file and renamed so a crash never leaves half a binding. */
export class JsonFilePairingStore implements PairingStore {
  constructor(private readonly path: string) {}

  get(): GlassesBinding | undefined {
    if (!existsSync(this.path)) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.path, "utf8"));
    } catch (error) {
      throw new TapwireError(`pairing file ${this.path}: ${(error as Error).message}`, ErrorCode.ConfigInvalid);
    }
    return checked(parsed as GlassesBinding);
  }

  replace(binding: GlassesBinding): void {
    const temporary = `${this.path}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(checked(binding), null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, this.path);
  }

  clear(): void {
    rmSync(this.path, { force: true });
  }
}
