/**
 * Which plans the `indexeddb` adapter's native indexes answer right, and one of them read in one request. pouchdb-find
 * asks the `indexeddb` adapter to query its native IndexedDB index (`_customFindAbstractMapper.query`): the adapter
 * reads the index's design document again, then walks an IndexedDB cursor, one request per document.
 *
 * The native index of fields `a`, `b` is named `_find_idx/a/b` and keyed `[deleted ? 1 : 0, a, b]` (IndexedDB key
 * paths: `data.a`, with field names escaped). It holds only what IndexedDB takes as a key: no object, and `null`,
 * `false` and `true` only where the adapter rewrote the document (as the three lowest safe integers) — which it skips
 * when the first nested object it meets has none of them (`{ meta: { x: 1 }, done: false }`: `done` is left out), as it
 * then skips escaping field names. It fails on an object bound, flattens an array key, and a number below those three
 * sorts before them. So the adapter answers only a range whose ends are both strings or numbers above those three, on
 * fields whose names need no escaping: there it finds every document and orders them as CouchDB does (but for
 * strings: code units, as every pouchdb engine). Every other plan — a sort over a whole field (`$exists`), `$gt`
 * without an upper end, `null`, `false`, `true`, an array or object — goes to pouchdb-find's map/reduce views (the
 * fallback the adapter itself takes for a partial index; the `idb` adapter's only way), which hold every value in
 * CouchDB's collation. test/query/idb-object-fields.e2e.test.ts compares the answers with the server's in Chromium.
 *
 * Of the plans the adapter answers, an equality on one field (`{ cat: 'c1' }`: pouchdb-find's `key`) comes, with the
 * same documents in the same (index) order, from one `getAll` on the same IndexedDB index, and the design document
 * from the listing the query was planned on (test/query/idb-find.e2e.test.ts compares it with the adapter's own).
 * What this relies on of the adapter (pouchdb-adapter-indexeddb 9): documents live in the `docs` store as
 * `{ id, rev, deleted, revs: { [rev]: { data } } }`.
 */

interface IdbRecord {
  id: string;
  rev: string;
  deleted?: unknown;
  revs: Record<string, { data: Record<string, unknown> }>;
}

/** The adapter internals this reads through. */
export interface IndexedDbPouch {
  _openTransactionSafely(stores: string[], mode: string, callback: (error: unknown, txn?: IDBTransaction) => void): void;
}

interface DesignDoc {
  views?: Record<string, { options?: { def?: { fields?: unknown[]; partial_filter_selector?: unknown } } }>;
}

type Rows = { rows: { doc: Record<string, unknown> }[] };

/** The highest number the adapter stores for `null`, `false` or `true` (`Number.MIN_SAFE_INTEGER` + 0, 1, 2). */
const STORED_TRUE = Number.MIN_SAFE_INTEGER + 2;

/** A key every document holding it has in the native index, where CouchDB puts it: a string, or a number above those three. */
const plain = (value: unknown): value is string | number => typeof value === 'string' || (typeof value === 'number' && value > STORED_TRUE && value < Infinity);

/** A field path the adapter need not escape (an escaped one is missing from the documents it did not rewrite). */
const CLEAN_PATH = /^[a-zA-Z$][a-zA-Z0-9$]*(\.[a-zA-Z$][a-zA-Z0-9$]*)*$/;

/** The index's fields, when it has no partial filter (the adapter leaves those to the views itself). */
function fieldsOf(ddoc: DesignDoc, view: string): string[] | undefined {
  const def = ddoc.views?.[view]?.options?.def;
  if (!def || def.partial_filter_selector !== undefined || !Array.isArray(def.fields) || def.fields.length === 0) return undefined;
  const names = def.fields.map((field) => (typeof field === 'string' ? field : typeof field === 'object' && field !== null ? Object.keys(field)[0] : undefined));
  return names.every((name) => typeof name === 'string') ? (names as string[]) : undefined;
}

/** True when `key` (of an index of `count` fields: an array of as many when more than one) is {@link plain} throughout. */
const plainKey = (key: unknown, count: number): boolean =>
  count === 1 ? plain(key) : Array.isArray(key) && key.length === count && key.every(plain);

const MAX_COUNT = 0xffff_ffff;

/**
 * The rows (`{ doc }`) of the answer to `opts` on view `view` of `ddoc`: from `fallback` (pouchdb-find's views) where
 * the native index may miss or misplace documents, from one `getAll` for an equality on one field, or `undefined`
 * when this plan is the adapter's to run.
 */
export function readIndex(pouch: IndexedDbPouch, ddoc: DesignDoc, view: string, opts: Record<string, unknown>, fallback: () => Promise<unknown>): Promise<unknown> | undefined {
  const fields = fieldsOf(ddoc, view);
  if (!fields) return undefined;
  const native = fields.every((field) => CLEAN_PATH.test(field)) && ('key' in opts ? plainKey(opts.key, fields.length) : plainKey(opts.startkey, fields.length) && plainKey(opts.endkey, fields.length));
  if (!native) return fallback();
  if (fields.length !== 1 || !('key' in opts) || opts.descending || opts.skip) return undefined;
  const limit = Number.isInteger(opts.limit) ? (opts.limit as number) : undefined;
  if (limit === 0) return Promise.resolve({ rows: [] });
  const count = limit !== undefined && limit > 0 && limit <= MAX_COUNT ? limit : undefined;
  const name = `_find_idx/${fields[0]}`;
  return new Promise<Rows | undefined>((resolve, reject) => {
    pouch._openTransactionSafely(['docs'], 'readonly', (error, txn) => {
      const store = error || !txn ? undefined : txn.objectStore('docs');
      // Not there (yet): the adapter makes it (it reopens the database).
      if (!store?.indexNames.contains(name)) return resolve(undefined);
      const request = store.index(name).getAll(IDBKeyRange.only([0, opts.key as string | number]), count);
      request.onerror = () => reject(request.error ?? new Error('IndexedDB getAll failed'));
      request.onsuccess = () => {
        const rows: Rows['rows'] = [];
        for (const record of request.result as IdbRecord[]) {
          const doc = record.revs?.[record.rev]?.data;
          if (typeof doc !== 'object' || doc === null) return resolve(undefined); // not the layout this knows
          doc._id = record.id;
          doc._rev = record.rev;
          if (record.deleted) doc._deleted = true;
          rows.push({ doc });
        }
        resolve({ rows });
      };
    });
  });
}
