// The region table (wrangler.toml `[vars] REGIONS`): each AYBIZA region's name, its origin URL,
// the callers' countries it is nearest to, and its share of traffic among equals.

export interface RegionConfig {
  /** The region's name, as the server's AYBIZA_REGION and the numbers' `region` say it. */
  name: string;
  /** Where the region's servers are reached (scheme and host, no path). */
  origin: string;
  /** ISO 3166 alpha-2 country codes of callers this region is nearest to. */
  countries: string[];
  /** Relative share of new calls among regions otherwise equal (default 1). */
  weight: number;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const COUNTRY = /^[A-Z]{2}$/;

/** The region table from its JSON (a string, or the object wrangler makes of a TOML array);
 * a bad entry is an error naming its index and field. */
export function parseRegions(value: unknown): RegionConfig[] {
  const raw: unknown = typeof value === "string" ? JSON.parse(value) : value;
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new Error("REGIONS must be a non-empty array of {name, origin, countries, weight}");
  }
  const seen = new Set<string>();
  return raw.map((entry: unknown, index: number): RegionConfig => {
    const where = `REGIONS[${index}]`;
    if (typeof entry !== "object" || entry === null) throw new Error(`${where} must be an object`);
    const { name, origin, countries = [], weight = 1 } = entry as Record<string, unknown>;
    if (typeof name !== "string" || !NAME.test(name)) {
      throw new Error(`${where}.name must be lower-case letters, digits and '-', got ${JSON.stringify(name)}`);
    }
    if (seen.has(name)) throw new Error(`${where}.name ${name} appears twice`);
    seen.add(name);
    let url: URL;
    try {
      url = new URL(String(origin));
    } catch {
      throw new Error(`${where}.origin must be a URL like https://us-east-1.example.com, got ${JSON.stringify(origin)}`);
    }
    if ((url.protocol !== "https:" && url.protocol !== "http:") || (url.pathname !== "/" && url.pathname !== "")) {
      throw new Error(`${where}.origin must be http(s)://host[:port] with no path, got ${JSON.stringify(origin)}`);
    }
    if (!Array.isArray(countries) || !countries.every((c) => typeof c === "string" && COUNTRY.test(c))) {
      throw new Error(`${where}.countries must be ISO country codes like ["US", "CA"], got ${JSON.stringify(countries)}`);
    }
    if (typeof weight !== "number" || !(weight > 0)) {
      throw new Error(`${where}.weight must be a number > 0, got ${JSON.stringify(weight)}`);
    }
    return { name, origin: url.origin, countries: countries as string[], weight };
  });
}
