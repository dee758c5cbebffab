/**
 * How redux-persist's serialized state maps onto parts.
 *
 * redux-persist 6 writes `persist:<key>` as `JSON.stringify({ [slice]: JSON.stringify(sliceState), …, _persist: '…' })`.
 * Each slice string is stored as its own part, parsed (so the documents are readable JSON) when parsing and serializing
 * again gives back the very same string; otherwise (a custom serializer, a value the store refuses) the string is kept
 * verbatim inside a `{ "$featPersistRaw": string }` wrapper — or, when it holds a lone surrogate (a custom serializer
 * that writes one raw: no JSON text CouchDB takes can hold it), as its JSON text inside `{ "$featPersistRawJson": string }`
 * (JSON.stringify escapes it as `\udXXX`). Either way the round trip is exact.
 */

/**
 * Document ids. The key's name (after `persist:`) and each slice name have `%` and `:` escaped (`%25`, `%3A`: the
 * store's `escapeSubkey`, src/store/ids.ts), so the
 * slice `s` of `persist:<k>` is the document `persist:<esc k>:<esc s>`: exactly two `:`. Nested keys (`app` and
 * `app:auth`) and `:`-containing slice names never share, list or delete each other's documents. Names without `%` and
 * `:` (the usual ones) are stored as they are.
 */

/** The property of the wrapper that keeps a slice string verbatim. */
export const RAW = '$featPersistRaw';

/**
 * Slices nested deeper are kept as their string. Under the store's limit (500 levels, src/store/validate.ts), so every
 * parsed slice is one the store takes; a slice between the two stays a string, as it always was (it reads back the same).
 */
const MAX_DEPTH = 200;

export const wellFormed = (s: string): boolean =>
  typeof (s as { isWellFormed?: () => boolean }).isWellFormed === 'function'
    ? (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : !/[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(s);

/** The property of the wrapper that keeps a slice string holding a lone surrogate, as its JSON text. */
export const RAW_JSON = '$featPersistRawJson';

function isWrapper<K extends string>(value: unknown, name: K): value is { [P in K]: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === name && typeof (value as Record<string, unknown>)[name] === 'string';
}

const isRawWrapper = (value: unknown): value is { [RAW]: string } => isWrapper(value, RAW) || isWrapper(value, RAW_JSON);

/** A slice string kept as it is. */
const raw = (slice: string): unknown => (wellFormed(slice) ? { [RAW]: slice } : { [RAW_JSON]: JSON.stringify(slice) });

/** True when the store accepts `value` as it is (no `__proto__` names, no lone surrogates, not too deep, no ±5e-324). */
function storable(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return wellFormed(value);
  // CouchDB stores ±5e-324 as 0 (the store refuses it).
  if (typeof value === 'number') return Math.abs(value) !== Number.MIN_VALUE;
  if (typeof value !== 'object' || value === null) return true;
  if (depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) return value.every((item) => storable(item, depth + 1));
  for (const key of Object.keys(value)) {
    if (key === '__proto__' || !wellFormed(key)) return false;
    if (!storable((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

/** The document value stored for one slice string. */
export function sliceToValue(slice: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(slice);
  } catch {
    return raw(slice);
  }
  if (isRawWrapper(parsed) || !storable(parsed, 0) || JSON.stringify(parsed) !== slice) return raw(slice);
  return parsed;
}

/** The slice string of a stored document value. */
export function valueToSlice(value: unknown): string {
  if (isWrapper(value, RAW)) return value[RAW];
  if (isWrapper(value, RAW_JSON)) {
    try {
      const slice: unknown = JSON.parse(value[RAW_JSON]);
      if (typeof slice === 'string') return slice;
    } catch {
      // (Not this engine's: another app's document.)
    }
  }
  return JSON.stringify(value);
}

/**
 * Parses what redux-persist hands to `setItem`: a JSON object whose values are strings.
 * `undefined` when it is anything else (then the engine cannot store it slice by slice).
 */
export function parseOuter(serialized: string): Map<string, string> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(serialized);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const slices = new Map<string, string>();
  for (const key of Object.keys(parsed)) {
    const value = (parsed as Record<string, unknown>)[key];
    if (typeof value !== 'string') return undefined;
    slices.set(key, value);
  }
  return slices;
}

/** The string redux-persist expects from `getItem`: `JSON.stringify` of the slice strings, in `order` first. */
export function composeOuter(slices: ReadonlyMap<string, string>, order: readonly string[]): string {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const key of order) {
    if (slices.has(key) && !seen.has(key)) {
      keys.push(key);
      seen.add(key);
    }
  }
  const rest = [...slices.keys()].filter((k) => !seen.has(k));
  // redux-persist writes `_persist` last (it is added after the reducers' keys).
  rest.sort((a, b) => (a === '_persist' ? 1 : b === '_persist' ? -1 : 0));
  keys.push(...rest);
  // Built from an object so the key order is exactly JSON.stringify's (integer-like keys first), as redux-persist's is.
  const out: Record<string, string> = {};
  for (const key of keys) Object.defineProperty(out, key, { value: slices.get(key)!, enumerable: true, writable: true, configurable: true });
  return JSON.stringify(out);
}
