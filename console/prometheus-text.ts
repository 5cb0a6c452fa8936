/** Reading the Prometheus text exposition back: what the bench and the tests compare with their own counts. */

/** Every sample of one metric, with its labels. */
export function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const found: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    found.push({ labels: labelsOf(match[2]), value: Number(match[3]) });
  }
  return found;
}

/** The sum of a metric's samples whose labels include `labels`; 0 when there are none. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  return samples(text, name)
    .filter((found) => Object.entries(labels).every(([key, value]) => found.labels[key] === value))
    .reduce((total, found) => total + found.value, 0);
}

export async function scrape(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`GET ${baseUrl}/metrics answered ${response.status}`);
  return response.text();
}

function labelsOf(text: string | undefined): Record<string, string> {
  return Object.fromEntries([...(text ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}
