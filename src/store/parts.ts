/**
 * `key:subkey` parts: each part is its own document (and revision), read back in one `_all_docs` range request.
 * Loaded on first use; the store keeps the call order and the validation.
 */
import type { WriteOp } from './codec.js';
import { decode, expiryTag, isExpired } from './codec.js';
import { prefixRanges, rangeRows } from './ranges.js';
import type { Db } from './db.js';
import type { StoreIO } from './io.js';
import { hashString } from '../util/hash.js';
import { stringify } from '../util/json.js';
import { tick } from './rev-cache.js';
import { PART_SEPARATOR, subkeyOf } from './ids.js';
import { INTERNAL_PREFIX } from './validate.js';

/** The rows of the documents that may be parts of `key` (filter them with {@link subkeyOf}). */
const partRows = (io: StoreIO, db: Db, key: string, options: Record<string, unknown>) =>
  rangeRows(io.allDocs, db, prefixRanges(key + PART_SEPARATOR), options, key);

/**
 * Every stored id that starts with `prefix` and its value (in id order), with this client's unwritten ones on top;
 * `key` names the call in errors. A read whose caller gave up (`signal`) is one the app does not see.
 */
export async function readPrefix(io: StoreIO, prefix: string, key = prefix, signal?: AbortSignal): Promise<Map<string, unknown>> {
  const db = await io.db();
  // This client's unwritten values, taken before the read (see pendingUnder).
  const pending = io.queue().pendingUnder(prefix);
  const rows = await rangeRows(io.allDocs, db, prefixRanges(prefix), { include_docs: true }, key);
  const seen = signal?.aborted ? Infinity : tick(); // the app sees these revisions from here on
  const values = new Map<string, unknown>();
  for (const row of rows) {
    if (!row.doc || row.value.deleted || !row.id.startsWith(prefix) || row.id.startsWith('_') || row.id.startsWith(INTERNAL_PREFIX)) continue;
    const value = await io.valueOf(db, row.doc);
    // (An expired value reads as undefined: its revision is known, its content is not a value to compare with. A value
    // another app nested deeper than JSON.stringify reaches is hashed all the same: util/json.ts.)
    const stored = decode(row.doc);
    if (!stored.chunks && row.doc._rev) io.known().learn(row.id, row.doc._rev, seen, value === undefined ? undefined : hashString(stringify(value)) + expiryTag(stored.expiresAt));
    if (value !== undefined) values.set(row.id, value);
  }
  for (const [id, op] of pending) {
    if (op.deleted || isExpired(op)) values.delete(id);
    else values.set(id, structuredClone(op.value));
  }
  return new Map([...values].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * {@link readPrefix}, where a document with conflicting leaves shows its resolution, as `get()` of it does (the store's
 * read: on the server resolved and written; on a replica the resolution a pull started, waited for, or made). The
 * resolutions are read at once (their bounded waits overlap). `seen` is told each value's revision (`undefined`:
 * none stored). `byResolver`: called from a conflict resolver's body (its own key answered as stored).
 */
export async function readPrefixResolved(
  io: StoreIO,
  prefix: string,
  key = prefix,
  signal?: AbortSignal,
  byResolver = false,
  seen?: (id: string, rev: string | undefined) => void,
): Promise<Map<string, unknown>> {
  const conflicted: string[] = [];
  const allDocs: StoreIO['allDocs'] = async (db, options, k) => {
    const answer = await io.allDocs(db, { ...options, conflicts: true }, k);
    for (const row of answer.rows) {
      // (And a part whose pulled change is being resolved: a removal made here later is a deleted leaf, which no
      // `_conflicts` lists — the store's read looks.)
      // So too for a part this client removed (remote mode) that reads as live: an older branch may have won over it.
      if (row.doc?._conflicts?.length || (row.doc && (io.ctx.local ? io.ctx.resolution?.(row.id) : io.ctx.removedHere?.(row.id)))) conflicted.push(row.id);
      if (row.value?.rev) seen?.(row.id, row.value.rev);
    }
    return answer;
  };
  const values = await readPrefix({ ...io, allDocs }, prefix, key, signal);
  if (conflicted.length === 0 || signal?.aborted) return values;
  const db = await io.db();
  // (This client's unwritten value is shown as it is.)
  const read = conflicted.filter((id) => !io.queue().peek(id)).map(async (id) => {
    const raw = await io.read(db, id, undefined, true, signal, byResolver);
    io.ctx.removalRead?.(id);
    seen?.(id, raw?._rev);
    return [id, raw && (await io.valueOf(db, raw))] as const;
  });
  // (Replaced in place: the map keeps its id order.)
  for (const [id, value] of await Promise.all(read)) {
    if (value === undefined) values.delete(id);
    else values.set(id, value);
  }
  return values;
}

/**
 * Every stored part of `key` (and no part of another key, such as `key:b`), with this client's unwritten ones on top;
 * a part with conflicting leaves shows its resolution ({@link readPrefixResolved}).
 */
export async function readParts<T>(io: StoreIO, key: string, signal?: AbortSignal, byResolver = false): Promise<Record<string, T>> {
  const values = await readPrefixResolved(io, key + PART_SEPARATOR, key, signal, byResolver);
  const parts: Record<string, T> = {};
  for (const [id, value] of values) {
    const subkey = subkeyOf(id, key);
    if (subkey !== undefined) Object.defineProperty(parts, subkey, { value, enumerable: true, writable: true, configurable: true });
  }
  return parts;
}

/**
 * The ids of the stored parts of `key`, with their current revisions (on the replica, bounded and asked again as the
 * store's every read is: util/chunk-lock.ts `readReplica`).
 */
async function current(io: StoreIO, db: Db, key: string): Promise<Map<string, string>> {
  const existing = await partRows(io, db, key, {});
  return new Map(existing.filter((r) => !r.value.deleted && subkeyOf(r.id, key) !== undefined).map((r) => [r.id, r.value.rev]));
}

/** The ids of the parts of `key` this client has yet to write. */
const queuedParts = (io: StoreIO, key: string): string[] => [...io.queue().ids()].filter((id) => subkeyOf(id, key) !== undefined);

/**
 * Enqueues the parts whose content changed (a cached hash only counts while its revision is current). Nothing when
 * `signal` fired during the lookup: the caller has `aborted` already, and nothing of the call was queued yet.
 */
export async function planSetParts(
  io: StoreIO,
  key: string,
  ops: { id: string; op: WriteOp }[],
  replace: boolean,
  at: number,
  seq: number,
  signal?: AbortSignal,
): Promise<Promise<void>[]> {
  const db = await io.db();
  const revs = await current(io, db, key);
  if (signal?.aborted) return [];
  const queue = io.queue();
  const known = io.known();
  const writes: Promise<void>[] = [];
  // A replica cut off from the server (offline, paused, failing) may hold a part another device has since removed or
  // changed: written anyway, so that this later call's time counts (skipped, the earlier removal won once pulled).
  const upToDate = !io.ctx.local || io.ctx.connected?.() !== false;
  for (const { id, op } of ops) {
    const cached = known.get(id);
    // Skipped only when the stored content is already this, and no write of the part is on its way: a queued one is
    // replaced (same content, this call's time), and one in flight may still lose a conflict, so this call writes too.
    const unchanged = upToDate && !queue.peek(id) && cached !== undefined && revs.get(id) === cached.rev && cached.hash === io.hashOf(op);
    if (!unchanged) writes.push(queue.enqueue(id, op));
  }
  if (replace) {
    const keep = new Set(ops.map((o) => o.id));
    const stale = new Set([...revs.keys(), ...queuedParts(io, key)]);
    for (const id of stale) if (!keep.has(id)) writes.push(queue.enqueue(id, { deleted: true, value: undefined, at, seq }));
  }
  return writes;
}

/** Enqueues the deletion of every part of `key` (stored or still queued); nothing when `signal` fired (planSetParts). */
export async function planRemoveParts(io: StoreIO, key: string, at: number, seq: number, signal?: AbortSignal): Promise<Promise<void>[]> {
  const db = await io.db();
  const stored = await current(io, db, key);
  if (signal?.aborted) return [];
  const ids = new Set([...stored.keys(), ...queuedParts(io, key)]);
  const queue = io.queue();
  return [...ids].map((id) => queue.enqueue(id, { deleted: true, value: undefined, at, seq }));
}
