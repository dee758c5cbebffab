/**
 * One value of an index, read from an `indexeddb` replica in one request. pouchdb-find asks the `indexeddb` adapter
 * to query its native IndexedDB index (`_customFindAbstractMapper.query`): the adapter reads the index's design
 * document again, then walks an IndexedDB cursor, one request per document. For the plan of an equality on one field
 * (`{ done: false }`, `{ cat: { $eq: 'c1' } }`: pouchdb-find's `key`), the same documents, in the same (index) order,
 * come from one `getAll` on the same IndexedDB index, and the design document from the listing the query was planned
 * on. Every other plan — ranges, several fields, `skip`, descending, a partial index, an index IndexedDB does not
 * have yet — is left to the adapter (`undefined`).
 *
 * What this relies on of the adapter (pouchdb-adapter-indexeddb 9; test/query/idb-index.e2e.test.ts compares the
 * two answers in Chromium): documents live in the `docs` store as `{ id, rev, deleted, revs: { [rev]: { data } } }`;
 * the index of fields `a`, `b` is named `_find_idx/a/b` and keyed `[deleted ? 1 : 0, a, b]`, with `null`, `false`
 * and `true` stored as the three lowest safe integers.
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

/** How the adapter stores `null`, `false` and `true` in its indexes (IndexedDB cannot index them). */
const STORED: ReadonlyMap<unknown, number> = new Map<unknown, number>([
  [null, Number.MIN_SAFE_INTEGER],
  [false, Number.MIN_SAFE_INTEGER + 1],
  [true, Number.MIN_SAFE_INTEGER + 2],
]);

/** The index key of a value, if this reads it: a string, a finite number, a boolean or `null`. */
function storedKey(value: unknown): [0, string | number] | undefined {
  const special = STORED.get(value);
  if (special !== undefined) return [0, special];
  if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) return [0, value];
  return undefined;
}

/** The index's one field, when it has one and no partial filter. */
function singleField(ddoc: DesignDoc, view: string): string | undefined {
  const def = ddoc.views?.[view]?.options?.def;
  if (!def || def.partial_filter_selector !== undefined || !Array.isArray(def.fields) || def.fields.length !== 1) return undefined;
  const [field] = def.fields;
  if (typeof field === 'string') return field;
  const names = typeof field === 'object' && field !== null ? Object.keys(field) : [];
  return names.length === 1 ? names[0] : undefined;
}

const MAX_COUNT = 0xffff_ffff;

/**
 * The rows (`{ doc }`) of the adapter's answer to `opts` on view `view` of `ddoc`, or `undefined` when this plan is
 * the adapter's to run.
 */
export function readIndex(pouch: IndexedDbPouch, ddoc: DesignDoc, view: string, opts: Record<string, unknown>): Promise<{ rows: { doc: Record<string, unknown> }[] } | undefined> | undefined {
  const field = singleField(ddoc, view);
  if (field === undefined || !('key' in opts) || opts.descending || opts.skip) return undefined;
  const key = storedKey(opts.key);
  if (!key) return undefined;
  const limit = Number.isInteger(opts.limit) ? (opts.limit as number) : undefined;
  if (limit === 0) return Promise.resolve({ rows: [] });
  const count = limit !== undefined && limit > 0 && limit <= MAX_COUNT ? limit : undefined;
  const name = `_find_idx/${field}`;
  return new Promise((resolve, reject) => {
    pouch._openTransactionSafely(['docs'], 'readonly', (error, txn) => {
      const store = error || !txn ? undefined : txn.objectStore('docs');
      // Not there (yet): the adapter makes it (it reopens the database).
      if (!store?.indexNames.contains(name)) return resolve(undefined);
      const request = store.index(name).getAll(IDBKeyRange.only(key), count);
      request.onerror = () => reject(request.error ?? new Error('IndexedDB getAll failed'));
      request.onsuccess = () => {
        const rows: { doc: Record<string, unknown> }[] = [];
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
