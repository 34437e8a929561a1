// The web overview's filters: pairs of (dimension, value) in the URL, one query filter built from them.

export type Pair = [string, string];

export const DIMENSION_LABELS: Record<string, string> = {
  page: "Page", entry_page: "Entry page", exit_page: "Exit page", hostname: "Hostname", referrer: "Referrer",
  source: "Source", utm_source: "UTM source", utm_medium: "UTM medium", utm_campaign: "UTM campaign",
  browser: "Browser", os: "OS", device: "Device", country: "Country", language: "Language",
};

export function parsePairs(raw: string | null): Pair[] {
  if (!raw) return [];
  try {
    const value = JSON.parse(raw);
    if (Array.isArray(value)) {
      return value.filter((p): p is Pair => Array.isArray(p) && p.length === 2 && typeof p[0] === "string" &&
        typeof p[1] === "string" && p[0] in DIMENSION_LABELS);
    }
  } catch { /* ignored */ }
  return [];
}

export function encodePairs(pairs: Pair[]): string | undefined {
  return pairs.length ? JSON.stringify(pairs) : undefined;
}

/** `{"prop": {dim: {"eq": value}}}`, several joined with `all`; undefined without filters. */
export function toFilter(pairs: Pair[]): Record<string, unknown> | undefined {
  const conditions = pairs.map(([dim, value]) => ({ prop: { [dim]: { eq: value } } }));
  if (!conditions.length) return undefined;
  return conditions.length === 1 ? conditions[0] : { all: conditions };
}

export function withPair(pairs: Pair[], pair: Pair): Pair[] {
  return [...pairs.filter(([d]) => d !== pair[0]), pair];
}
