import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";

/** Where production code lives; bench/ and test/ may import anything. */
export const productionRoots = ["core", "protocol", "transport", "broker", "device", "firmware-bridge", "console", "simulator", "cli"] as const;

const sourceExtensions = [".ts", ".mts", ".mjs", ".js"];
/** Deeper than any folder the repository has: a bound on the walk, not a rule. */
const folderDepthMax = 12;
const filesMax = 5_000;

export interface SourceImport {
  /** Repository-relative path of the importing file, with `/` separators. */
  from: string;
  /** The specifier as written. */
  specifier: string;
  /** Repository-relative path it resolves to, for a relative specifier. */
  to: string | undefined;
}

/** `import … from "x"`, `export … from "x"`, `import "x"` and `import("x")`, also spread over lines. */
const importPatterns = [
  /\b(?:import|export)\s[^;"'`]*?\sfrom\s*["']([^"']+)["']/g,
  /\bimport\s*["']([^"']+)["']/g,
  /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
];

/** Line comments and block comments go first, so an example in a comment is not an import. */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

export function specifiersOf(source: string): string[] {
  const code = withoutComments(source);
  const found = new Set<string>();
  for (const pattern of importPatterns) {
    for (const match of code.matchAll(pattern)) found.add(match[1]!);
  }
  return [...found];
}

function listSources(repoRoot: string, folder: string, depth: number, into: string[]): void {
  if (depth > folderDepthMax) throw new Error(`${folder} is nested deeper than ${folderDepthMax} folders`);
  for (const entry of readdirSync(join(repoRoot, folder), { withFileTypes: true })) {
    const path = posix.join(folder, entry.name);
    if (entry.isDirectory()) listSources(repoRoot, path, depth + 1, into);
    else if (sourceExtensions.some((ext) => entry.name.endsWith(ext)) && !entry.name.endsWith(".d.ts")) into.push(path);
    if (into.length > filesMax) throw new Error(`more than ${filesMax} source files under ${productionRoots.join(", ")}`);
  }
}

/** Every import of every production source file. */
export function productionImports(repoRoot: string): SourceImport[] {
  const files: string[] = [];
  for (const root of productionRoots) listSources(repoRoot, root, 0, files);
  return files.flatMap((from) =>
    specifiersOf(readFileSync(join(repoRoot, from), "utf8")).map((specifier) => ({
      from,
      specifier,
      to: specifier.startsWith(".") ? relative(repoRoot, resolve(repoRoot, dirname(from), specifier)).split("\\").join("/") : undefined,
    })),
  );
}

/** The folder a file is in: the node of the folder graph. */
export function folderOf(path: string): string {
  return posix.dirname(path);
}

/** Folder → folders it imports from (relative imports only, a folder's imports of itself left out). */
export function folderGraph(imports: readonly SourceImport[]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of imports) {
    if (to === undefined) continue;
    const [a, b] = [folderOf(from), folderOf(to)];
    if (!graph.has(a)) graph.set(a, new Set());
    if (!graph.has(b)) graph.set(b, new Set());
    if (a !== b) graph.get(a)!.add(b);
  }
  return graph;
}

/** Strongly connected components of more than one node (Tarjan): each is a set of folders (or files) importing each other. */
export function cyclesOf(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) cycles.push(component.sort());
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return cycles;
}

/** The file-level imports that make up a cycle of folders, for a readable failure. */
export function edgesWithin(imports: readonly SourceImport[], folders: readonly string[]): string[] {
  const members = new Set(folders);
  return imports
    .filter(({ from, to }) => to !== undefined && folderOf(from) !== folderOf(to) && members.has(folderOf(from)) && members.has(folderOf(to)))
    .map(({ from, to }) => `${from} -> ${to}`);
}
