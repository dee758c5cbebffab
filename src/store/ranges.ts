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
 * Ids are ordered by UTF-16 code units in PouchDB's memory and IndexedDB adapters, by code points (UTF-8 bytes) in its
 * LevelDB adapter and in CouchDB; PouchDB's LevelDB-based adapters list nothing past U+00FF in a range without an
 * explicit end, and CouchDB refuses a range whose start is above its end. Two ranges, valid in both orders, hold every
 * id from `start` on that begins with `base` (aside from ids with U+10FFFF followed by U+E000–U+FFFF or U+10FFFF, or with eight
 * U+FFFF in a row, which validate.ts refuses as keys): the first, to
 * U+10FFFF…, is complete in code point order and, in UTF-16 order, stops before the ids that start with U+E000–U+FFFF;
 * the second holds those. In code point order the second repeats ids of the first: dedupe by id.
 */
function toTheEnd(start: string, base: string): IdRange[] {
  const high = base + '\ue000';
  return [
    { startkey: start, endkey: base + '\u{10FFFF}'.repeat(8) },
    { startkey: start > high ? start : high, endkey: base + '\uffff'.repeat(8) },
  ];
}

/** Every id from `start` on (`start` below U+D800 in its first character); see {@link toTheEnd}. */
export const rangesFrom = (start: string): IdRange[] => toTheEnd(start, '');

/**
 * The ids that start with `prefix` (a user key may start with U+FFF0 or an emoji): up to the prefix's successor, which
 * bounds the range in both orders; without one (a prefix made of U+FFFF / U+10FFFF only), {@link toTheEnd}. The rows
 * may include ids without the prefix: filter them with `startsWith(prefix)`, and dedupe by id.
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
  return toTheEnd(prefix, prefix);
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
