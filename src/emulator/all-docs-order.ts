/**
 * `_all_docs` in CouchDB's order. CouchDB lists ids by raw collation — their UTF-8 bytes, that is code points — and
 * cuts `startkey`/`endkey`/`skip`/`limit` in that order; PouchDB's memory adapter lists them by UTF-16 code units. The
 * two differ only where a surrogate (a character above U+FFFF: emoji) meets a character in U+E000–U+FFFF (private use,
 * CJK compatibility, fullwidth forms, U+FFFF itself) at the same place of two ids, or of an id and a bound: the page is
 * made again in code point order only when the database's ids hold such characters and the ids and the range's ends
 * together hold both kinds; otherwise PouchDB answers.
 */
import { compareBytes } from './mango-match.js';
import type { Database } from './storage.js';

const SURROGATE = /[\ud800-\udfff]/;
const HIGH_BMP = /[\ue000-\uffff]/;

interface Ids {
  /** The update sequence they were listed at (listed again once it changed). */
  seq: unknown;
  surrogate: boolean;
  high: boolean;
  /** Every id in code point order, when one of the kinds is there (listed at `seq`). */
  sorted?: string[];
}

const seen = new WeakMap<Database, Ids>();

/** What the ids of a database hold, and (when it may matter) all of them in code point order; one look per change. */
async function idsOf(db: Database): Promise<Ids> {
  // The sequence first: what is listed after it covers every id written up to it (and perhaps later ones).
  const { update_seq: seq } = await db.info();
  const known = seen.get(db);
  if (known && known.seq === seq) return known;
  const all = (await db.allDocs({ startkey: '', endkey: '\uffff'.repeat(8) })).rows.map((r) => r.id);
  const found: Ids = { seq, surrogate: all.some((id) => SURROGATE.test(id)), high: all.some((id) => HIGH_BMP.test(id)) };
  if (found.surrogate || found.high) found.sorted = all.sort(compareBytes);
  seen.set(db, found);
  return found;
}

interface Page {
  total_rows: number;
  offset?: number | null;
  update_seq?: unknown;
  rows: unknown[];
}

/** The first index of `sorted` (ascending by `order`) whose id is not below `bound` (`strict`: above it). */
function search(sorted: string[], bound: string, order: (a: string, b: string) => number, strict: boolean): number {
  let [lo, hi] = [0, sorted.length];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = order(sorted[mid]!, bound);
    if (c < 0 || (strict && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The page `options` (PouchDB's names, `keys` aside) asks for, in code point order; undefined when PouchDB's own
 * answer is in that order already (not the memory adapter, or ids and range that cannot be ordered otherwise).
 */
export async function allDocsByCodePoint(db: Database, options: Record<string, unknown>): Promise<Page | undefined> {
  if (Array.isArray(options.keys) || (db as unknown as { adapter?: string }).adapter !== 'memory') return undefined;
  const { startkey, endkey, key, descending, inclusive_end: inclusiveEnd, skip, limit, ...rest } = options;
  // A bound that is not a string (a number, null: below every string; an object or array: above) is left to PouchDB.
  if ([startkey, endkey, key].some((v) => v !== undefined && typeof v !== 'string')) return undefined;
  const bounds = [startkey, endkey, key] as (string | undefined)[];
  const ids = await idsOf(db);
  const surrogate = ids.surrogate || bounds.some((b) => b !== undefined && SURROGATE.test(b));
  const high = ids.high || bounds.some((b) => b !== undefined && HIGH_BMP.test(b));
  if (!ids.sorted || !surrogate || !high) return undefined;

  const down = descending === true;
  const all = down ? [...ids.sorted].reverse() : ids.sorted;
  const order = down ? (a: string, b: string) => compareBytes(b, a) : compareBytes;
  const from = (key ?? startkey) as string | undefined;
  const to = (key ?? endkey) as string | undefined;
  const first = from === undefined ? 0 : search(all, from, order, false);
  const end = to === undefined ? all.length : search(all, to, order, inclusiveEnd !== false);
  const skipped = typeof skip === 'number' ? skip : 0;
  const begin = Math.min(first + skipped, Math.max(first, end));
  const wanted = all.slice(begin, typeof limit === 'number' ? Math.min(end, begin + limit) : end);
  const page = (await db.allDocs({ ...rest, keys: wanted } as never)) as unknown as Page;
  const info = (await db.allDocs({ limit: 0, ...(rest.update_seq === true ? { update_seq: true } : {}) } as never)) as unknown as Page;
  // (An id deleted since it was listed — a write meanwhile — is left out, as a listing made after it would.)
  const rows = (page.rows as { value?: { deleted?: boolean }; error?: unknown }[]).filter((row) => row.error === undefined && row.value?.deleted !== true);
  return {
    total_rows: info.total_rows,
    // As CouchDB counts it: the rows before the page, at most all of them.
    offset: Math.min(first + skipped, info.total_rows),
    ...(info.update_seq === undefined ? {} : { update_seq: info.update_seq }),
    rows,
  };
}
