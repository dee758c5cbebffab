/**
 * Reads of documents by id on a replica in a LevelDB-based adapter (`memory`, `leveldb`: Node). PouchDB answers
 * `allDocs({ keys, include_docs })` there with one range iterator (a stream) per key; a `get` per id reads the
 * document directly. pouchdb-find fetches every match that way (the index gives ids, then `allDocs` by keys), as do
 * the SDK's look-up of unknown revisions, chunk reads and export pages. Measured for 100 documents: memory 9–17 ms by
 * keys, 1.8–3.3 ms by `get`; leveldb 29–63 ms vs 13–18 ms. Not used in browsers: in Chromium the `indexeddb` and `idb`
 * adapters answer keys faster than `get`s (50 documents: 3–8 ms vs 11–16 ms, 11–19 ms vs 27–29 ms).
 *
 * The replica's `allDocs` is therefore answered with `get`s when that gives the same answer: `keys` with
 * `include_docs` and at most `conflicts` besides. Rows come in the order of the keys, as PouchDB's do. An id that
 * `get` cannot read (deleted, missing, `_local/…`, or an error) is read by PouchDB's own `allDocs`, so deleted and
 * missing rows, and errors, are exactly PouchDB's. Any other options go to PouchDB's `allDocs` unchanged.
 */
import type { StoredDoc } from './codec.js';
import type { AllDocsRow, Db } from './db.js';

/** Reads in flight at once for one call (an IndexedDB transaction each in browsers). */
const AT_ONCE = 128;

type AllDocs = Db['allDocs'];
type Getter = (id: string, options: Record<string, unknown>) => Promise<Record<string, unknown>>;

const FAST_OPTIONS = new Set(['keys', 'include_docs', 'conflicts']);

/** True when `options` asks for documents by id and nothing `get` does not also give. */
function byIds(options: unknown): options is { keys: string[]; include_docs: true; conflicts?: boolean } {
  if (typeof options !== 'object' || options === null) return false;
  const o = options as Record<string, unknown>;
  if (o.include_docs !== true || !Array.isArray(o.keys)) return false;
  for (const [name, value] of Object.entries(o)) if (value !== undefined && !FAST_OPTIONS.has(name)) return false;
  return o.keys.every((k) => typeof k === 'string' && k !== '' && !k.startsWith('_local/'));
}

/** Makes `db.allDocs` (a local PouchDB database) read documents by id with `get`s where the answer is the same. */
export function readByIds(db: { allDocs: AllDocs; get: Getter }): void {
  const original = db.allDocs.bind(db) as (...args: unknown[]) => ReturnType<AllDocs>;
  const get = db.get.bind(db) as Getter;
  db.allDocs = function allDocs(this: unknown, ...args: unknown[]) {
    const [options] = args;
    if (args.length !== 1 || !byIds(options)) return original(...args);
    return keyed(options.keys, options.conflicts === true, get, (keys) => original({ ...options, keys }));
  } as AllDocs;
}

async function keyed(keys: string[], conflicts: boolean, get: Getter, fallback: (keys: string[]) => ReturnType<AllDocs>) {
  const rows = new Array<AllDocsRow | undefined>(keys.length);
  const read = new Map<string, Promise<Record<string, unknown> | undefined>>();
  const options = conflicts ? { conflicts: true } : {};
  for (let start = 0; start < keys.length; start += AT_ONCE) {
    const window = keys.slice(start, start + AT_ONCE);
    for (const id of window) if (!read.has(id)) read.set(id, get(id, options).catch(() => undefined));
    await Promise.all(window.map((id) => read.get(id)));
  }
  const rest: number[] = [];
  for (let i = 0; i < keys.length; i++) {
    const doc = await read.get(keys[i]!)!;
    if (doc && typeof doc._rev === 'string') rows[i] = { id: keys[i]!, key: keys[i]!, value: { rev: doc._rev }, doc: doc as unknown as StoredDoc };
    else rest.push(i);
  }
  if (rest.length > 0) {
    const answer = await fallback(rest.map((i) => keys[i]!));
    rest.forEach((i, j) => (rows[i] = answer.rows[j]));
  }
  return { rows: rows as AllDocsRow[] };
}
