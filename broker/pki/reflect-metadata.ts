/**
 * @peculiar/x509 resolves its algorithm providers through tsyringe, which refuses to load unless the
 * Reflect metadata API exists, and no polyfill package is installed. tsyringe only stores and reads
 * injection-token metadata (x509's classes take no constructor parameters), so a WeakMap-backed
 * subset of the API is enough. Import this module before @peculiar/x509. It never replaces an existing API.
 */
type MetadataTarget = object;

const store = new WeakMap<MetadataTarget, Map<unknown, unknown>>();

interface ReflectMetadata {
  getMetadata(key: unknown, target: MetadataTarget): unknown;
  getOwnMetadata(key: unknown, target: MetadataTarget): unknown;
  defineMetadata(key: unknown, value: unknown, target: MetadataTarget): void;
}

function getOwnMetadata(key: unknown, target: MetadataTarget): unknown {
  return store.get(target)?.get(key);
}

function getMetadata(key: unknown, target: MetadataTarget): unknown {
  // Prototype chains are finite; this walks at most that far.
  for (let current: MetadataTarget | null = target; current !== null; current = Object.getPrototypeOf(current) as MetadataTarget | null) {
    const found = store.get(current);
    if (found?.has(key)) return found.get(key);
  }
  return undefined;
}

function defineMetadata(key: unknown, value: unknown, target: MetadataTarget): void {
  const entries = store.get(target) ?? new Map<unknown, unknown>();
  entries.set(key, value);
  store.set(target, entries);
}

const reflect = Reflect as unknown as Partial<ReflectMetadata>;
if (typeof reflect.getMetadata !== "function") {
  Object.assign(Reflect, { getMetadata, getOwnMetadata, defineMetadata } satisfies ReflectMetadata);
}
