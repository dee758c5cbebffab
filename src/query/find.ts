/**
 * `store.find()`: Mango queries over stored values. Loaded on first use (with pouchdb-find in local-first mode).
 *
 * - Local-first: pouchdb-find on the replica. Remote: `POST _find` to CouchDB, following `bookmark` pages until the
 *   query's `limit` (or every match: never CouchDB's default of 25).
 * - The app's selector is over its values; here it runs over `doc.` with two more conditions: the key's prefix
 *   (`_id`), and "not expired" (`feat.expiresAt`). Values too big for one document (a manifest listing chunks, no
 *   `doc`) are found through an index of manifests, reassembled, and matched in memory.
 * - A sort needs an index of its fields: it is created on first use (`store.createIndex`), the same in both modes.
 */
import { abortError, FeatError, FeatValidationError, toFeatError } from '../errors.js';
import { decode, type StoredDoc } from '../store/codec.js';
import type { Db } from '../store/db.js';
import { parsePartId } from '../store/ids.js';
import { rangeRows } from '../store/ranges.js';
import type { StoreIO } from '../store/io.js';
import { currentValueOf, unreadableValue } from '../store/unreadable.js';
import { INTERNAL_PREFIX } from '../store/validate.js';
import { eventFor } from '../sync/watch.js';
import { readText } from '../transport/responses.js';
import { hashString } from '../util/hash.js';
import { anySignal, throwIfAborted, withSignal } from '../util/abort.js';
import { lazy } from '../util/lazy.js';
import { limiter } from '../util/limit.js';
import { designRun, forgetDesigns, type DesignRun } from './design-cache.js';
import { replicaManifests, valueRanges } from './manifests.js';
import type { MatchDoc } from './memory.js';
import { emptyRange, escapeRegex, forEngine, forServer } from './engine.js';
import type { IndexSpec, PlannedQuery, QueryResult, Selector } from './validate.js';

const loadMemory = lazy(() => import('./memory.js'));

/** Options of `store.find()`. */
export interface FindOptions {
  /**
   * Receives the warnings of the query engine (CouchDB's or pouchdb-find's), e.g. "No matching index found, create an
   * index to optimize query time." Without it, each distinct warning is written once to `console.warn`.
   */
  onWarning?: ((warning: string) => void) | undefined;
  /**
   * Aborts the query: it rejects with `aborted` (`cause` = the signal's reason) at once; in remote mode the request in
   * flight is cancelled and no further page is asked for.
   */
  signal?: AbortSignal | undefined;
}

/** Matches asked for per `_find` request on the server (each page is one request). */
export const FIND_PAGE_SIZE = 1_000;
/** The server's index of chunked values' manifests (documents with `feat.chunks`); the replica's: query/manifests.ts. */
const MANIFEST_INDEX = ['feat.chunks'];

type FindResponse = { docs: StoredDoc[]; bookmark?: string; warning?: string };
type FindPlugin = Record<'find' | 'createIndex' | 'explain', (this: Db, request: unknown) => Promise<unknown>>;
type FetchDb = Db & { fetch(path: string, init: RequestInit): Promise<Response> };

let plugin: Promise<FindPlugin> | undefined;
/** pouchdb-find, called on the replica without installing it on the app's PouchDB. */
function findPlugin(): Promise<FindPlugin> {
  plugin ??= import('pouchdb-find').then((m) => ((m as { default?: FindPlugin }).default ?? (m as unknown as FindPlugin)));
  return plugin;
}

/** Operators no missing field satisfies: a condition with one of them holds only where the field exists. */
const POSITIVE = new Set(['$eq', '$gt', '$gte', '$lt', '$lte', '$in', '$all', '$size', '$type', '$mod', '$regex', '$elemMatch', '$allMatch', '$beginsWith']);

/** The fields every document the selector matches has (a condition no missing field meets), at its top or in its `$and`s. */
function requiredFields(selector: Selector, into = new Set<string>()): Set<string> {
  for (const [name, cond] of Object.entries(selector)) {
    if (name === '$and') for (const part of cond as Selector[]) requiredFields(part, into);
    if (name.startsWith('$')) continue;
    if (typeof cond !== 'object' || cond === null || Array.isArray(cond)) {
      into.add(name);
      continue;
    }
    const ops = Object.entries(cond as Record<string, unknown>);
    if (ops.length === 0 || !ops.every(([op]) => op.startsWith('$')) || ops.some(([op, arg]) => POSITIVE.has(op) || (op === '$exists' && arg === true))) into.add(name);
  }
  return into;
}

/** True when every document the selector matches has a `doc.…` field, hence is a value. */
const onlyValues = (selector: Selector): boolean => [...requiredFields(selector)].some((field) => field.startsWith('doc.'));

/**
 * The condition a query adds beside the app's, as a plain field (pouchdb-find merges `$and`s and `$or`s unreliably):
 * a value (`doc`: no chunk, manifest or design document) — left out when the app's selector already implies it (a
 * condition only an existing field meets), which spares the engine a filter. Either way {@link kept} drops what is
 * not a value. Kept (`filtered`) for a `limit` on the replica: a filter left to do in memory stops pouchdb-find from
 * handing `limit` to the index, where it counts the rows that a `$gt`'s exclusive start drops afterwards (a page
 * comes back short, and reads as the last one). The key's prefix is added where the query runs ({@link withPrefix});
 * internal and expired documents are dropped as the pages come ({@link kept}).
 */
const scoped = (selector: Selector, filtered: boolean): Selector =>
  // (Beside the engine's own condition on `doc`, if any: an object on the way to its fields.)
  !filtered && onlyValues(selector) ? selector : { ...selector, doc: { ...(selector.doc as object | undefined), $exists: true } };

/** The selector with the key's prefix, on the server: an anchored `_id` `$regex` (CouchDB still picks the app's index). */
function withPrefix(request: Record<string, unknown>, prefix: string): Record<string, unknown> {
  const selector = request.selector as Selector;
  if (prefix === '') return request;
  const onId = typeof selector._id === 'object' && selector._id !== null ? (selector._id as Record<string, unknown>) : {};
  return { ...request, selector: { ...selector, _id: { ...onId, $regex: `^${escapeRegex(prefix)}` } } };
}

/**
 * True when pouchdb-find runs this query on an index of the replica (else on `_all_docs`). The plan depends on the
 * query's shape, not its values, and on the replica's indexes: remembered per shape while the design documents the
 * run plans on are the same (an index made in another tab, or replicated, makes it plan again).
 */
async function onReplicaIndex(db: Db, request: Record<string, unknown>, run: DesignRun | undefined): Promise<boolean> {
  const { selector, sort } = request as { selector: Selector; sort?: unknown };
  const shape = JSON.stringify([selector, sort], (_k, v: unknown) => (typeof v === 'object' && v !== null ? v : typeof v));
  const designs = run ? await run.designs() : '';
  let plans = indexPlans.get(db);
  if (!plans || plans.designs !== designs) indexPlans.set(db, (plans = { designs, byShape: new Map() }));
  let onIndex = plans.byShape.get(shape);
  if (onIndex === undefined) {
    type Plan = { index?: { ddoc?: string | null; def?: { fields?: (string | Record<string, unknown>)[] } } };
    let plan: Plan;
    try {
      plan = (await (await findPlugin()).explain.call(run?.db ?? pouchOf(db), { selector, ...(sort ? { sort } : {}) })) as Plan;
    } catch (error) {
      // A range that cannot hold (`$gt: 2, $lt: 1`): pouchdb-find's find answers it with no documents, as CouchDB
      // does. Not remembered: the same shape with other values plans an index range that holds.
      if (emptyRange(error)) return true;
      throw error;
    }
    // An index holds only the documents that have all its fields: pouchdb-find also takes one for a condition that a
    // missing field meets (`$exists: false`, `$nin`, `$not`…), where it misses documents (CouchDB takes none).
    const required = requiredFields(selector);
    const fields = (plan.index?.def?.fields ?? []).map((f) => (typeof f === 'string' ? f : Object.keys(f)[0]!));
    onIndex = !!plan.index?.ddoc && fields.every((field) => required.has(field));
    if (plans.byShape.size > 100) plans.byShape.clear();
    plans.byShape.set(shape, onIndex);
  }
  return onIndex;
}

/** pouchdb-find's (and CouchDB's) warning for a query no index serves. */
const NO_INDEX_WARNING = 'No matching index found, create an index to optimize query time.';

/**
 * A query no index serves, on the replica: every document under the prefix read through `_all_docs` ranges that are
 * complete in every adapter, matched in memory, in key order. (pouchdb-find's own `_all_docs` scan has no end, and
 * PouchDB's LevelDB-based adapters — `memory`, `leveldb` — list no id past U+00FF in such a range: values under keys
 * in Greek, Cyrillic, CJK or emoji were never found.)
 */
async function scanReplica(io: StoreIO, db: Db, selector: Selector, prefix: string): Promise<StoredDoc[]> {
  const { matcher } = await loadMemory();
  // (Chunk documents, never a query's, left out: a few big values are most of a replica's bytes.)
  const rows = await rangeRows(io.allDocs, db, valueRanges(prefix), { include_docs: true });
  const { rewritten } = await matcher([]);
  const docs: StoredDoc[] = [];
  for (const row of rows) if (row.doc && !row.value.deleted && row.id.startsWith(prefix) && rewritten(row.doc, selector)) docs.push(row.doc);
  return docs.sort(byKey);
}

const indexPlans = new WeakMap<Db, { designs: string; byShape: Map<string, boolean> }>();

/** A document a query returns: under the prefix, not internal, not expired. */
function kept(doc: StoredDoc, prefix: string, now: number): boolean {
  const expiresAt = doc.feat?.expiresAt;
  return doc._id.startsWith(prefix) && !doc._id.startsWith(INTERNAL_PREFIX) && !(typeof expiresAt === 'number' && expiresAt <= now);
}

/**
 * True for a chunked value's manifest, as `get()` reads it (store.ts `valueOf`): its value is in its chunks, even when
 * another app's document also holds a `doc`.
 */
const isManifest = (doc: StoredDoc): boolean => decode(doc).chunks !== undefined;

/** A value the query returns: {@link kept}, and a value (not a manifest or a design document). */
const keptValue = (doc: StoredDoc, prefix: string, now: number): boolean => 'doc' in doc && !isManifest(doc) && kept(doc, prefix, now);

/** A manifest the query reassembles: {@link kept}, and one `get()` reads as a manifest. */
const keptManifest = (doc: StoredDoc, prefix: string, now: number): boolean => isManifest(doc) && kept(doc, prefix, now);

/** The database pouchdb-find runs on: the replica's PouchDB object itself (under the SDK's guard). */
const pouchOf = (db: Db): Db => ((db as { pouch?: Db }).pouch ?? db);

const indexName = (fields: string[]) => `feat-${hashString(JSON.stringify(fields)).replace(':', '-')}`;
const created = new WeakMap<Db, Map<string, Promise<void>>>();

/**
 * Creates (once per database and session) the Mango index of `fields` (stored fields, e.g. `doc.prio`). Remembered by
 * its fields: an index declared under a name also serves a sort on the same fields (no second index). A failure is
 * forgotten, so the next call tries again. Its design document is named for its fields (`feat-<hash>`), the index
 * within it by `name`: two app builds that give one name different fields (an update, a web and a mobile build) make
 * two indexes — under `_design/<name>` they replaced each other's, replicated to every device, and the other build's
 * sorts failed.
 */
export function ensureIndex(io: StoreIO, db: Db, fields: string[], name = indexName(fields)): Promise<void> {
  let done = created.get(db);
  if (!done) created.set(db, (done = new Map()));
  const key = JSON.stringify(fields);
  let pending = done.get(key);
  if (!pending) {
    const request = { index: { fields }, ddoc: indexName(fields), name, type: 'json' };
    pending = (io.ctx.local ? findPlugin().then((p) => p.createIndex.call(pouchOf(db), request)) : post(db as FetchDb, '_index', request)).then(
      () => undefined,
      (error: unknown) => {
        throw toFeatError(error);
      },
    );
    const map = done;
    pending.then(
      () => indexPlans.delete(db),
      () => map.delete(key),
    );
    done.set(key, pending);
  }
  return pending;
}

/** The client's `indexes` option: each created once per database (see {@link ensureIndex}), before any query runs. */
export async function declaredIndexes(io: StoreIO, db: Db): Promise<void> {
  await Promise.all(io.ctx.indexes.map((index) => ensureIndex(io, db, index.fields.map((f) => `doc.${f}`), index.name)));
}

/** A Mango request to the server; its error answer as a FeatError (400 → `invalid_argument`). */
async function post(db: FetchDb, path: string, body: unknown, signal?: AbortSignal): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    const init: RequestInit = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
    if (signal) init.signal = signal;
    response = await db.fetch(path, init);
  } catch (error) {
    throw toFeatError(error);
  }
  // A body that stops coming (the transport's silence limit), is cut or aborted keeps that error (`timeout`,
  // `network`, `aborted`); only an answer that arrived and is not a JSON object is `bad_response`.
  let text: string;
  try {
    // No size limit: a `_find` page may be far larger than a REST answer (it was never bounded here).
    const read = await readText(response, { maxBytes: Number.POSITIVE_INFINITY, signal });
    text = 'text' in read ? read.text : '';
  } catch (error) {
    if (signal?.aborted) throw abortError(signal, { status: response.status });
    throw toFeatError(error, { status: response.status });
  }
  let json: Record<string, unknown> | undefined;
  let cause: unknown;
  try {
    json = JSON.parse(text) as Record<string, unknown> | undefined;
  } catch (error) {
    cause = error;
  }
  if (!json || typeof json !== 'object') {
    throw new FeatError('bad_response', `The server answered ${path} with no JSON object`, {
      status: response.status,
      ...(cause === undefined ? {} : { cause }),
    });
  }
  if (!response.ok) {
    const reason = `${String(json.error)}: ${String(json.reason)}`;
    if (response.status === 400) throw new FeatValidationError('invalid_argument', `The server refused the query (${reason})`, { status: 400 });
    throw toFeatError({ ...json, status: response.status, message: reason });
  }
  return json;
}

/**
 * Runs one Mango request to completion: the documents that are {@link kept}, after the first `skip` of them, up to
 * `limit` (all when `undefined`). `skip` is applied here, on kept documents only. Remote: `_find` pages of
 * {@link FIND_PAGE_SIZE} linked by their `bookmark`; local: one pouchdb-find call (more only when dropped documents
 * left it short).
 */
async function runMango(
  io: StoreIO,
  db: Db,
  query: Record<string, unknown>,
  prefix: string,
  range: { skip: number; limit: number | undefined },
  warn: (w: string) => void,
  signal: AbortSignal | undefined,
  /** On the replica: the run pouchdb-find reads it through. */
  run: DesignRun | undefined,
  /**
   * The query of manifests: on an index of its own (no need to see which index the replica would use), and what it
   * returns are manifests, not values.
   */
  manifests = false,
): Promise<StoredDoc[]> {
  const now = Date.now();
  const keep = manifests ? keptManifest : keptValue;
  const total = range.limit === undefined ? undefined : range.skip + range.limit;
  const replica = run?.db ?? pouchOf(db);
  if (io.ctx.local && !manifests && !(await onReplicaIndex(db, query, run))) {
    warn(NO_INDEX_WARNING);
    const all = await scanReplica(io, db, query.selector as Selector, prefix);
    const sort = ((query.sort ?? []) as Record<string, 'asc' | 'desc'>[]).map((s) => Object.entries(s)[0]!).filter(([field]) => field !== '_id');
    if (sort.length > 0) all.sort(await (await loadMemory()).compareDocs(sort.map(([field, dir]) => ({ field, desc: dir === 'desc' }))));
    return all.filter((doc) => keep(doc, prefix, now)).slice(range.skip, total);
  }
  // On the replica the prefix is checked on the documents returned (pouchdb-find takes `_all_docs` for any `_id`).
  const request = io.ctx.local ? query : withPrefix(query, prefix);
  const docs: StoredDoc[] = [];
  let bookmark: string | undefined;
  let offset = 0;
  for (let page = 0; ; page++) {
    throwIfAborted(signal);
    const missing = total === undefined ? undefined : total - docs.length;
    const asked = io.ctx.local ? (missing ?? Number.MAX_SAFE_INTEGER) : Math.min(FIND_PAGE_SIZE, missing ?? FIND_PAGE_SIZE);
    let answer: FindResponse;
    if (io.ctx.local) {
      const find = (await findPlugin()).find;
      // pouchdb-find's default limit is 25, like CouchDB's: the SDK always says how many it wants.
      answer = (await find.call(replica, { ...request, skip: offset, limit: asked }).catch((error: unknown) => {
        throw toFeatError(error);
      })) as FindResponse;
    } else {
      // `conflicts`: a document with conflicting leaves says so (see findOnce).
      answer = (await post(db as FetchDb, '_find', { ...request, conflicts: true, limit: asked, ...(bookmark ? { bookmark } : {}) }, signal)) as FindResponse;
    }
    if (!Array.isArray(answer.docs)) throw new FeatError('bad_response', 'The server answered _find without docs');
    if (answer.warning && page === 0) warn(answer.warning);
    for (const doc of answer.docs) if (keep(doc, prefix, now)) docs.push(doc);
    offset += answer.docs.length;
    if (answer.docs.length < asked || (total !== undefined && docs.length >= total)) return docs.slice(range.skip, total);
    if (!io.ctx.local) {
      if (typeof answer.bookmark !== 'string') throw new FeatError('bad_response', 'The server answered a full _find page without a bookmark');
      bookmark = answer.bookmark;
    }
  }
}

const warned = new Set<string>();
const consoleWarning = (warning: string) => {
  if (warned.has(warning)) return;
  warned.add(warning);
  console.warn(`[feat] store.find(): ${warning}`);
};

/** The key (and subkey) a stored id reads as in a query over `prefix`, as `watch({ prefix })` reports it. */
export function resultOf<T>(prefix: string, id: string, value: T): QueryResult<T> {
  const target: { key: string; subkey?: string } = eventFor({ prefix }, id, parsePartId(id)) ?? { key: id };
  return target.subkey === undefined ? { key: target.key, value } : { key: target.key, subkey: target.subkey, value };
}

/** `store.find()`: the query is planned (checked) already. */
export async function find<T>(io: StoreIO, query: PlannedQuery, options: FindOptions = {}): Promise<QueryResult<T>[]> {
  return (await findDocs(io, query, options)).map((d) => resultOf(query.prefix, d._id, d.doc as T));
}

/** The matching documents (`{ _id, doc: value }`), in the query's order; `aborted` as soon as `options.signal` aborts. */
export function findDocs(io: StoreIO, query: PlannedQuery, given: FindOptions = {}): Promise<MatchDoc[]> {
  if (given.signal?.aborted) return Promise.reject(abortError(given.signal));
  // One listener on the app's signal per call (its requests and reads listen to this one, up to five): Node warns of a
  // possible leak past ten listeners, which a signal shared by two or three queries at once used to pass.
  const link = given.signal && anySignal([given.signal]);
  const options = link ? { ...given, signal: link.signal } : given;
  const run = findAll(io, query, options).catch(async (error: unknown) => {
    // An index this session made was deleted or replaced meanwhile (another device, another app, a design document
    // conflict): forget what was made and planned, make the indexes again, and run the query once more.
    if (!missingIndex(error)) throw error;
    const db = await io.ctx.db();
    created.delete(db);
    indexPlans.delete(db);
    forgetDesigns(pouchOf(db));
    return findAll(io, query, options);
  });
  // Whatever the engine throws (pouchdb-find's own errors) reaches the app as a FeatError.
  return withSignal(
    run.catch(async (error: unknown) => {
      if (io.ctx.local && unreadable(error)) {
        throw new FeatValidationError('invalid_argument', 'find(): local-first mode does not support this $not inside $elemMatch/$allMatch', { cause: error });
      }
      throw await explained(io.ctx.local ? await io.ctx.db().catch(() => undefined) : undefined, error);
    }),
    options.signal,
  ).finally(() => link?.dispose());
}

const byKey = (a: MatchDoc, b: MatchDoc): number => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0);

/**
 * pouchdb-selector-core's failure on a negation inside an `$elemMatch`/`$allMatch` over values (it negates fields
 * only): engine.ts rewrites those it can; a query with another one is the app's to change.
 */
const unreadable = (error: unknown): boolean => /unknown operator "\$n(or|ot)"/.test(String((error as { message?: unknown } | null)?.message ?? ''));

/** CouchDB's and pouchdb-find's answers when the index a query needs is gone or is being replaced. */
const missingIndex = (error: unknown): boolean =>
  /no_usable_index|Cannot sort on field|Design document was updated or deleted/i.test(String((error as { message?: unknown } | null)?.message ?? ''));

/** The query's answer; its warnings go to `onWarning` only once it stands (not for a run done again). */
async function findAll(io: StoreIO, query: PlannedQuery, options: FindOptions): Promise<MatchDoc[]> {
  const warnings: string[] = [];
  const collect = (warning: string) => void warnings.push(warning);
  let docs = await findOnce(io, query, options.signal, collect, false);
  if (docs === AGAIN) {
    warnings.length = 0;
    docs = (await findOnce(io, query, options.signal, collect, true)) as MatchDoc[];
  }
  // A query still answering once the client closed warns nobody.
  const warn = options.onWarning ?? ((warning: string) => io.ctx.closing() || consoleWarning(warning));
  for (const warning of warnings) warn(warning);
  return docs;
}

/** Conflicted documents a query resolves at once, per store. */
const resolvers = new WeakMap<StoreIO, <T>(work: () => Promise<T>) => Promise<T>>();

/** {@link findOnce}'s answer when the design documents it planned on changed meanwhile (or it resolved conflicts): run it again. */
const AGAIN = Symbol('again');

/**
 * One run of the query. `fresh`: on the replica, pouchdb-find reads the design documents itself (the run after one
 * that planned on design documents changed meanwhile: see query/design-cache.ts).
 */
async function findOnce(io: StoreIO, query: PlannedQuery, signal: AbortSignal | undefined, warn: (warning: string) => void, fresh: boolean): Promise<MatchDoc[] | typeof AGAIN> {
  // This client's writes not stored yet (as get() sees them), taken before the query runs: one that lands while it
  // runs may be missing from its answer, and would be gone from the queue by the time the answer came.
  const queued = io.queue().pendingUnder(query.prefix).filter(([id]) => !id.startsWith(INTERNAL_PREFIX));
  const db = await io.ctx.db();
  // Mixed directions (`['prio', { updatedAt: 'desc' }]`): neither engine sorts them (CouchDB answers 400
  // unsupported_mixed_sort); every match is read and sorted here, then the window is cut.
  let mixed = query.sort.some((s) => s.desc !== query.sort[0]!.desc);
  // The declared indexes first: one of them may be the index of the sort fields. On a full device (the replica's
  // indexes cannot be made: storage_full) the query still runs — a scan, sorted here — as reads keep working there.
  const full = async (making: Promise<void> | undefined): Promise<boolean> => {
    try {
      await making;
      return false;
    } catch (error) {
      if (io.ctx.local && (await explained(db, error)).code === 'storage_full') return true;
      throw error;
    }
  };
  const wanted = mixed ? [] : query.sort.map((s) => s.field);
  const [, sortIndexFull] = await Promise.all([full(declaredIndexes(io, db)), full(wanted.length ? ensureIndex(io, db, wanted) : undefined), full(io.ctx.local ? undefined : ensureIndex(io, db, MANIFEST_INDEX))]);
  if (sortIndexFull) mixed = true;
  const sort = mixed ? [] : query.sort.map((s) => ({ [s.field]: s.desc ? 'desc' : 'asc' }));
  // On the replica, after the indexes are made: the version it reads is one they are in.
  const run = io.ctx.local ? designRun(pouchOf(db), fresh) : undefined;
  // Each engine gets the selector in a form it reads as CouchDB does (engine.ts).
  const selector = io.ctx.local ? forEngine(query.selector) : forServer(query.selector);
  const request: Record<string, unknown> = { selector: scoped(selector, io.ctx.local && query.limit !== undefined && !mixed) };
  // No sort: key order. A window of it is cut by the engine in `_id` order (`_all_docs`, the prefix as its range);
  // a whole result set comes through the best index and is put in key order here.
  const windowed = query.skip > 0 || query.limit !== undefined;
  if (sort.length) request.sort = sort;
  else if (windowed && !mixed) {
    // CouchDB sorts by `_id` only on `_all_docs`, which it uses only with a condition on `_id` (`$gt: null`: any).
    request.sort = [{ _id: 'asc' }];
    request.selector = { ...(request.selector as Selector), _id: { $gt: null } };
  }
  const main = (range: { skip: number; limit: number | undefined }) =>
    query.limit === 0 ? Promise.resolve([]) : runMango(io, db, request, query.prefix, range, warn, signal, run);
  // Chunked values (rare): their manifests come from their own index, in parallel with the query itself.
  const all = { skip: 0, limit: undefined };
  const [manifests, first] = await Promise.all([manifestsOf(io, db, query.prefix, signal, run), main(mixed ? all : { skip: query.skip, limit: query.limit })]);
  if (run && !fresh && !(await run.current())) return AGAIN;
  // On the server, a document with conflicting leaves (another app's, or a local-first device's not resolved yet) is
  // resolved as get() resolves it (the resolver's choice, written), then the query runs again: a query never shows
  // a value get() would not return, and a live query never goes back to a losing leaf. (Once: a resolution that
  // cannot finish leaves CouchDB's winner, as get() returns it then.)
  const conflicted = fresh ? [] : [...first, ...manifests].filter((d) => (d as StoredDoc)._conflicts?.length);
  if (conflicted.length > 0) {
    let resolving = resolvers.get(io);
    if (!resolving) resolvers.set(io, (resolving = limiter(8)));
    // A resolution that fails (the server refuses the write, the network) leaves CouchDB's winner, as get() then does.
    await Promise.all(conflicted.map((d) => resolving(() => io.read(db, d._id, Infinity)).catch(() => undefined)));
    return AGAIN;
  }
  const { matches } = manifests.length > 0 || queued.length > 0 ? await loadMemory() : { matches: undefined };
  const chunked = manifests.length > 0 ? await reassembled(io, manifests, (doc) => matches!(doc, query.selector), warn) : [];
  // This client's writes not stored yet: their stored versions give way to them.
  const pending = queued.map(([id]) => id);
  const replaced = new Set(pending);
  const extra = chunked.filter((d) => !replaced.has(d._id));
  const now = Date.now();
  for (const [id, op] of queued) {
    if (!op || op.deleted || (op.expiresAt !== undefined && op.expiresAt <= now)) continue;
    const doc = { _id: id, doc: structuredClone(op.value) };
    if (await matches!(doc, query.selector)) extra.push(doc);
  }
  if (extra.length === 0 && pending.length === 0 && !mixed) return sort.length || windowed ? first : first.sort(byKey);
  // The extra documents are merged in order; the window is cut after merging (wide enough for the ones given way).
  const wide = query.limit === undefined ? undefined : query.limit + query.skip + pending.length;
  const base: MatchDoc[] = windowed && !mixed ? await main({ skip: 0, limit: wide }) : first;
  const { compareDocs } = await loadMemory();
  // On the server: its order (strings by ICU collation), for the extra documents and a mixed sort alike.
  const order = await compareDocs(query.sort, !io.ctx.local);
  const kept = base.filter((d) => !replaced.has(d._id));
  // The engine's order is kept as it is (the server's: ICU collation for strings, `apple` before `Banana`, which
  // pouchdb-collate's code units put the other way): the extra documents are placed into it, the order never
  // changing because a write is on its way. What no engine ordered (mixed directions; a whole key-order set) is
  // sorted here.
  const merged = mixed || !(sort.length || windowed) ? [...kept, ...extra].sort(order) : placeInto(kept, extra.sort(order), order);
  return merged.slice(query.skip, query.limit === undefined ? undefined : query.skip + query.limit);
}

/**
 * The chunked values of `manifests` that match, in their order. A value that cannot be read (its chunks missing or
 * damaged: another app's document, a broken one) is left out and named in a warning, as `get()` of its key fails
 * alone: one bad document does not fail the query of every other key. (A failure of the connection fails the query.)
 */
async function reassembled(io: StoreIO, manifests: StoredDoc[], matches: (doc: MatchDoc) => boolean | Promise<boolean>, warn: (warning: string) => void): Promise<MatchDoc[]> {
  const db = await io.db();
  const docs: MatchDoc[] = [];
  for (const manifest of manifests) {
    try {
      // (Read again at the current revision if another device replaced it and collected its chunks meanwhile.)
      const doc = { _id: manifest._id, doc: await currentValueOf(io, db, manifest) };
      if (doc.doc !== undefined && (await matches(doc))) docs.push(doc);
    } catch (error) {
      if (!unreadableValue(error, manifest._id)) throw error;
      warn(`"${manifest._id}" is left out: its value cannot be read (${error.code}: ${error.message})`);
    }
  }
  return docs;
}

/** `sorted` with each of `extra` (in order) placed before the first document it sorts before. */
function placeInto(sorted: MatchDoc[], extra: MatchDoc[], order: (a: MatchDoc, b: MatchDoc) => number): MatchDoc[] {
  const out = [...sorted];
  let from = 0;
  for (const doc of extra) {
    while (from < out.length && order(doc, out[from]!) >= 0) from++;
    out.splice(from, 0, doc);
    from++;
  }
  return out;
}

/**
 * The manifests of chunked values under `prefix` (not internal, not expired). On the replica, read under the prefix
 * and then kept up to date from the replica's changes (query/manifests.ts), as of the replica's version the run reads
 * anyway. On the server, one `_find` (a sequence would cost a request too).
 */
async function manifestsOf(io: StoreIO, db: Db, prefix: string, signal: AbortSignal | undefined, run: DesignRun | undefined): Promise<StoredDoc[]> {
  const query = { selector: { 'feat.chunks': { $exists: true } } };
  const all = { skip: 0, limit: undefined };
  if (!run) return runMango(io, db, query, prefix, all, () => undefined, signal, undefined, true);
  // The version is read before the query: a write landing meanwhile is read by the next one.
  const docs = await replicaManifests(io, db, prefix, await run.version);
  const now = Date.now();
  return docs.filter((doc) => keptManifest(doc, prefix, now));
}

/** `store.createIndex({ fields, name? })`: an index of the value's fields, created once (idempotent). */
export async function createIndex(io: StoreIO, index: IndexSpec): Promise<void> {
  const db = await io.ctx.db();
  try {
    await declaredIndexes(io, db);
    await ensureIndex(io, db, index.fields.map((f) => `doc.${f}`), index.name);
  } catch (error) {
    throw await explained(db, error);
  }
}

/**
 * A failure as the app should read it: on the replica, through its guard (a transaction aborted for lack of room is
 * `storage_full`, not the local `timeout` of an aborted transaction: device-storage.ts, errors.ts), else as a FeatError.
 */
async function explained(db: Db | undefined, error: unknown): Promise<FeatError> {
  const explain = (db as { explain?: (e: unknown) => FeatError } | undefined)?.explain;
  const failure = explain ? explain.call(db, error) : toFeatError(error);
  // An index made on the replica upgrades its IndexedDB database, whose abort for lack of room no write path sees.
  if (explain && (failure.code === 'timeout' || failure.code === 'server') && /transaction was aborted/i.test(failure.message)) {
    const { quotaUsedUp } = await import('../sync/device-storage.js');
    if (await quotaUsedUp()) return new FeatError('storage_full', "The device (or the browser's quota for this site) has no room left for an index of the local replica. Free some space; queries keep working meanwhile (without the index).", { cause: error });
  }
  return failure;
}
