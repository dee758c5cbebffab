/**
 * `_all_docs` ranges for ids that may hold any character. Loaded on demand (keys(), parts, GC, export).
 */
import type { AllDocsRow, Db } from './db.js';

export interface IdRange {
  startkey?: string;
  endkey: string;
  inclusive_end?: boolean;
}

/**
 * `_all_docs` ranges that together hold every id from `start` on. Ids are ordered by UTF-16 code units in PouchDB's
 * memory and IndexedDB adapters, by code points (UTF-8 bytes) in its LevelDB adapter and in CouchDB, and PouchDB's
 * LevelDB-based adapters list nothing past U+00FF without an explicit end. So: one range to the top of each order.
 * In UTF-16 order the second range repeats ids of the first (those starting with a surrogate pair): dedupe by id.
 */
export function rangesFrom(start: string): IdRange[] {
  const astral = (start.codePointAt(0) ?? 0) > 0xffff;
  const ranges: IdRange[] = [{ startkey: astral ? start : '\u{10000}', endkey: '\u{10FFFF}'.repeat(3) }];
  if (!astral) ranges.unshift({ startkey: start, endkey: '\uffff'.repeat(4) });
  return ranges;
}

/**
 * `_all_docs` ranges holding the ids that start with `prefix` (a user key may start with U+FFF0 or an emoji): up to
 * the prefix's successor, which bounds the range in both orders; or, without one, {@link rangesFrom}. The rows may
 * include ids without the prefix: filter them with `startsWith(prefix)` (and dedupe by id).
 */
export function prefixRanges(prefix: string): IdRange[] {
  let p = prefix;
  while (p.length > 0) {
    const last = p.charCodeAt(p.length - 1);
    const pair = last >= 0xdc00 && last <= 0xdfff && p.length > 1 && (p.charCodeAt(p.length - 2) & 0xfc00) === 0xd800;
    const cp = pair ? p.codePointAt(p.length - 2)! : last;
    p = p.slice(0, pair ? -2 : -1);
    if (cp === 0xffff || cp === 0x10ffff) continue; // no successor here: end after the previous character instead
    return [{ startkey: prefix, endkey: p + String.fromCodePoint(cp === 0xd7ff ? 0xe000 : cp + 1), inclusive_end: false }];
  }
  return rangesFrom(prefix);
}

/** The rows of `ranges`, each id once (`allDocs` maps errors). */
export async function rangeRows(
  allDocs: (db: Db, options: Record<string, unknown>, key?: string) => Promise<{ rows: AllDocsRow[] }>,
  db: Db,
  ranges: IdRange[],
  options: Record<string, unknown>,
  key?: string,
): Promise<AllDocsRow[]> {
  const rows = new Map<string, AllDocsRow>();
  for (const range of ranges) {
    for (const row of (await allDocs(db, { ...range, ...options }, key)).rows) if (!rows.has(row.id)) rows.set(row.id, row);
  }
  return [...rows.values()];
}
