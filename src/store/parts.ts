/**
 * `key:subkey` parts: each part is its own document (and revision), read back in one `_all_docs` range request.
 * Loaded on first use; the store keeps the call order and the validation.
 */
import type { WriteOp } from './codec.js';
import { decode, isExpired } from './codec.js';
import { prefixRanges, rangeRows } from './ranges.js';
import type { Db } from './db.js';
import type { StoreIO } from './io.js';
import { hashString } from '../util/hash.js';
import { tick } from './rev-cache.js';
import { PART_SEPARATOR, subkeyOf } from './ids.js';

/** The rows of the documents that may be parts of `key` (filter them with {@link subkeyOf}). */
const partRows = (io: StoreIO, db: Db, key: string, options: Record<string, unknown>) =>
  rangeRows(io.allDocs, db, prefixRanges(key + PART_SEPARATOR), options, key);

/** Every stored part of `key` (and no part of another key, such as `key:b`), with this client's unwritten ones on top. */
export async function readParts<T>(io: StoreIO, key: string): Promise<Record<string, T>> {
  const db = await io.db();
  const rows = await partRows(io, db, key, { include_docs: true });
  const seen = tick(); // the app sees these revisions from here on
  const parts: Record<string, T> = {};
  const put = (subkey: string, value: unknown) =>
    Object.defineProperty(parts, subkey, { value, enumerable: true, writable: true, configurable: true });
  for (const row of rows) {
    const subkey = subkeyOf(row.id, key);
    if (!row.doc || row.value.deleted || subkey === undefined) continue;
    const value = await io.valueOf(db, row.doc);
    if (!decode(row.doc).chunks && row.doc._rev) io.known().learn(row.id, row.doc._rev, seen, hashString(JSON.stringify(value)));
    if (value !== undefined) put(subkey, value);
  }
  const queue = io.queue();
  for (const id of queue.ids()) {
    const subkey = subkeyOf(id, key);
    if (subkey === undefined) continue;
    const op = queue.peek(id)!;
    if (op.deleted || isExpired(op)) delete parts[subkey];
    else put(subkey, structuredClone(op.value));
  }
  return parts;
}

/** The ids of the stored parts of `key`, with their current revisions. */
async function current(io: StoreIO, db: Db, key: string): Promise<Map<string, string>> {
  const existing = await partRows(io, db, key, {});
  return new Map(existing.filter((r) => !r.value.deleted && subkeyOf(r.id, key) !== undefined).map((r) => [r.id, r.value.rev]));
}

/** The ids of the parts of `key` this client has yet to write. */
const queuedParts = (io: StoreIO, key: string): string[] => [...io.queue().ids()].filter((id) => subkeyOf(id, key) !== undefined);

/** Enqueues the parts whose content changed (a cached hash only counts while its revision is current). */
export async function planSetParts(
  io: StoreIO,
  key: string,
  ops: { id: string; op: WriteOp }[],
  replace: boolean,
  at: number,
  seq: number,
): Promise<Promise<void>[]> {
  const db = await io.db();
  const revs = await current(io, db, key);
  const queue = io.queue();
  const known = io.known();
  const writes: Promise<void>[] = [];
  for (const { id, op } of ops) {
    const cached = known.get(id);
    // Skipped only when the stored content is already this, and no write of the part is on its way: a queued one is
    // replaced (same content, this call's time), and one in flight may still lose a conflict, so this call writes too.
    const unchanged = !queue.peek(id) && cached !== undefined && revs.get(id) === cached.rev && cached.hash === io.hashOf(op);
    if (!unchanged) writes.push(queue.enqueue(id, op));
  }
  if (replace) {
    const keep = new Set(ops.map((o) => o.id));
    const stale = new Set([...revs.keys(), ...queuedParts(io, key)]);
    for (const id of stale) if (!keep.has(id)) writes.push(queue.enqueue(id, { deleted: true, value: undefined, at, seq }));
  }
  return writes;
}

/** Enqueues the deletion of every part of `key` (stored or still queued). */
export async function planRemoveParts(io: StoreIO, key: string, at: number, seq: number): Promise<Promise<void>[]> {
  const db = await io.db();
  const ids = new Set([...(await current(io, db, key)).keys(), ...queuedParts(io, key)]);
  const queue = io.queue();
  return [...ids].map((id) => queue.enqueue(id, { deleted: true, value: undefined, at, seq }));
}
