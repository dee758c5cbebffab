/**
 * `_all_docs` in CouchDB's order. CouchDB lists ids by raw collation — their UTF-8 bytes, that is code points — and
 * cuts `startkey`/`endkey`/`skip`/`limit` in that order; PouchDB's memory adapter lists them by UTF-16 code units. The
 * two differ only where a surrogate (a character above U+FFFF: emoji) meets a character in U+E000–U+FFFF (private use,
 * CJK compatibility, fullwidth forms, U+FFFF itself) at the same place of two ids, so the page is made again in code
 * point order only when the database's ids or the range's ends hold both kinds; otherwise PouchDB answers.
 */
import { compareBytes } from './mango-match.js';
import type { Database } from './storage.js';

const SURROGATE = /[\ud800-\udfff]/;
const HIGH_BMP = /[\ue000-\uffff]/;

/** What the ids of a database hold, as of its update sequence (looked at again once it changed). */
const seen = new WeakMap<Database, { seq: unknown; surrogate: boolean; high: boolean }>();

async function kinds(db: Database): Promise<{ surrogate: boolean; high: boolean }> {
  const known = seen.get(db);
  // The sequence first: what is listed after it covers every id written up to it (and perhaps later ones).
  const { update_seq: seq } = await db.info();
  if (known && known.seq === seq) return known;
  // The ids changed since the last look (once true, a kind stays so: a deleted id only makes the look slower).
  const listed = known
    ? (await db.changes({ since: known.seq as number })).results.map((r) => r.id)
    : (await db.allDocs({ startkey: '', endkey: '\uffff'.repeat(8) })).rows.map((r) => r.id);
  const found = {
    seq,
    surrogate: (known?.surrogate ?? false) || listed.some((id) => SURROGATE.test(id)),
    high: (known?.high ?? false) || listed.some((id) => HIGH_BMP.test(id)),
  };
  seen.set(db, found);
  return found;
}

interface Page {
  total_rows: number;
  offset?: number | null;
  update_seq?: unknown;
  rows: unknown[];
}

/**
 * The page `options` (PouchDB's names, `keys` aside) asks for, in code point order; undefined when PouchDB's own
 * answer is in that order already (not the memory adapter, or ids and range that cannot be ordered otherwise).
 */
export async function allDocsByCodePoint(db: Database, options: Record<string, unknown>): Promise<Page | undefined> {
  if (Array.isArray(options.keys) || (db as unknown as { adapter?: string }).adapter !== 'memory') return undefined;
  const { startkey, endkey, key, descending, inclusive_end: inclusiveEnd, skip, limit, ...rest } = options;
  const bounds = [startkey, endkey, key].filter((v): v is string => typeof v === 'string');
  const ids = await kinds(db);
  const surrogate = ids.surrogate || bounds.some((b) => SURROGATE.test(b));
  const high = ids.high || bounds.some((b) => HIGH_BMP.test(b));
  if (!surrogate || !high) return undefined;
  // A bound that is not a string (a number, null: below every string; an object or array: above) is left to PouchDB.
  if ([startkey, endkey, key].some((v) => v !== undefined && typeof v !== 'string')) return undefined;

  const all = (await db.allDocs({ startkey: '', endkey: '\uffff'.repeat(8) })).rows.map((r) => r.id);
  const order = descending === true ? (a: string, b: string) => compareBytes(b, a) : compareBytes;
  all.sort(order);
  const from = typeof key === 'string' ? key : (startkey as string | undefined);
  const to = typeof key === 'string' ? key : (endkey as string | undefined);
  const start = from === undefined ? 0 : all.findIndex((id) => order(id, from) >= 0);
  const first = start === -1 ? all.length : start;
  const inRange = all.slice(first).filter((id) => to === undefined || (inclusiveEnd === false ? order(id, to) < 0 : order(id, to) <= 0));
  const skipped = typeof skip === 'number' ? skip : 0;
  const ids_ = inRange.slice(skipped, typeof limit === 'number' ? skipped + limit : undefined);
  const page = (await db.allDocs({ ...rest, keys: ids_ } as never)) as unknown as Page;
  const info = await db.allDocs({ limit: 0, ...(rest.update_seq === true ? { update_seq: true } : {}) } as never);
  return { total_rows: info.total_rows, offset: first + skipped, ...((info as Page).update_seq === undefined ? {} : { update_seq: (info as Page).update_seq }), rows: page.rows };
}
