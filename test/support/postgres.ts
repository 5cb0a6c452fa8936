import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { serviceSchema } from "../../broker/settlement/service-schema.ts";
import { openPgDb } from "../../broker/store/pg-open.ts";
import { ManualClock } from "../../core/sources.ts";

/**
 * A database of its own for each PostgreSQL test, created on the machine's PostgreSQL (127.0.0.1:5432, user
 * postgres, trust auth; `.ci/run` makes sure it runs) and dropped afterwards with whatever connections remain.
 */
export const postgresAdminUrl = process.env["TAPWIRE_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresAdminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `tapwire_test_${randomBytes(6).toString("hex")}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(postgresAdminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined) };
}

/** Runs one statement on the test database (fixtures only: the code under test has its own connections). */
export async function sqlOn(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/**
 * A fresh database holding the whole settlement schema, copied from a template migrated once per schema text
 * (CREATE DATABASE … TEMPLATE is a file copy, far quicker than migrating every test's database).
 */
export async function createServiceDatabase(): Promise<TestDatabase> {
  const template = await serviceTemplate();
  const name = `tapwire_test_${randomBytes(6).toString("hex")}`;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await admin((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
      break;
    } catch (error) {
      // Another test process copying the same template at this instant holds it for a moment.
      if (attempt >= 20 || (error as { code?: string }).code !== "55006") throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
  const url = new URL(postgresAdminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined) };
}

let templateName: Promise<string> | undefined;

function serviceTemplate(): Promise<string> {
  templateName ??= (async () => {
    const components = serviceSchema([]);
    const digest = createHash("sha256").update(JSON.stringify(components)).digest("hex").slice(0, 16);
    const name = `tapwire_template_${digest}`;
    const exists = await admin((client) => client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]));
    if (exists.rowCount === 1) return name;
    // Built under another name and renamed: a test process that finds the template finds it whole.
    const building = `${name}_${randomBytes(4).toString("hex")}`;
    await admin((client) => client.query(`CREATE DATABASE ${building}`));
    const url = new URL(postgresAdminUrl);
    url.pathname = `/${building}`;
    openPgDb({ url: url.toString(), components, clock: new ManualClock() }).close();
    await admin(async (client) => {
      try {
        await client.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
      } catch (error) {
        // Another process finished first (42P04 duplicate_database): its template is the same schema.
        if ((error as { code?: string }).code !== "42P04") throw error;
        await client.query(`DROP DATABASE ${building} WITH (FORCE)`);
      }
    });
    return name;
  })();
  return templateName;
}
