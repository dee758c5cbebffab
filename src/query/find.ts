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
import { FeatError, FeatValidationError, toFeatError } from '../errors.js';
import type { StoredDoc } from '../store/codec.js';
import type { Db } from '../store/db.js';
import { parsePartId } from '../store/ids.js';
import type { StoreIO } from '../store/io.js';
import { INTERNAL_PREFIX } from '../store/validate.js';
import { eventFor } from '../sync/watch.js';
import { hashString } from '../util/hash.js';
import type { MatchDoc } from './memory.js';
import type { PlannedQuery, QueryResult, Selector } from './validate.js';

/** Options of `store.find()`. */
export interface FindOptions {
  /**
   * Receives the warnings of the query engine (CouchDB's or pouchdb-find's), e.g. "No matching index found, create an
   * index to optimize query time." Without it, each distinct warning is written once to `console.warn`.
   */
  onWarning?: (warning: string) => void;
}

/** Matches asked for per `_find` request on the server (each page is one request). */
export const FIND_PAGE_SIZE = 1_000;
/** The index of chunked values' manifests (documents with `feat.chunks`). */
const MANIFEST_INDEX = ['feat.chunks'];

type FindResponse = { docs: StoredDoc[]; bookmark?: string; warning?: string };
type FindPlugin = Record<'find' | 'createIndex', (this: Db, request: unknown) => Promise<unknown>>;
type FetchDb = Db & { fetch(path: string, init: RequestInit): Promise<Response> };

let plugin: Promise<FindPlugin> | undefined;
/** pouchdb-find, called on the replica without installing it on the app's PouchDB. */
function findPlugin(): Promise<FindPlugin> {
  plugin ??= import('pouchdb-find').then((m) => ((m as { default?: FindPlugin }).default ?? (m as unknown as FindPlugin)));
  return plugin;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * The conditions every query adds, as plain fields beside the app's (pouchdb-find merges `$and`s and `$or`s
 * unreliably): the key's prefix, and a value (`doc`: no chunk, manifest or design document). Internal and expired
 * documents are dropped as the pages come ({@link kept}).
 */
function scoped(prefix: string, selector: Selector, value = true): Selector {
  return { ...selector, _id: { $regex: `^${escapeRegex(prefix)}` }, ...(value ? { doc: { $exists: true } } : {}) };
}

/** A document a query returns: not internal, not expired. */
function kept(doc: StoredDoc, now: number): boolean {
  const expiresAt = doc.feat?.expiresAt;
  return !doc._id.startsWith(INTERNAL_PREFIX) && !(typeof expiresAt === 'number' && expiresAt <= now);
}

/** The database pouchdb-find runs on: the replica's PouchDB object itself (under the SDK's guard). */
const pouchOf = (db: Db): Db => ((db as { pouch?: Db }).pouch ?? db);

const indexName = (fields: string[]) => `feat-${hashString(JSON.stringify(fields)).replace(":", "-")}`;
const created = new WeakMap<Db, Map<string, Promise<void>>>();

/** Creates (once per database and session) the Mango index of `fields` (stored fields, e.g. `doc.prio`). */
export function ensureIndex(io: StoreIO, db: Db, fields: string[]): Promise<void> {
  let done = created.get(db);
  if (!done) created.set(db, (done = new Map()));
  const name = indexName(fields);
  let pending = done.get(name);
  if (!pending) {
    const request = { index: { fields }, ddoc: name, name, type: 'json' };
    pending = (io.ctx.local ? findPlugin().then((p) => p.createIndex.call(pouchOf(db), request)) : post(db as FetchDb, '_index', request)).then(
      () => undefined,
    );
    const map = done;
    pending.catch(() => map.delete(name));
    done.set(name, pending);
  }
  return pending;
}

/** A Mango request to the server; its error answer as a FeatError (400 → `invalid_argument`). */
async function post(db: FetchDb, path: string, body: unknown): Promise<Record<string, unknown>> {
  let response: Response;
  try {
    response = await db.fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  } catch (error) {
    throw toFeatError(error);
  }
  const json = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!json || typeof json !== 'object') throw new FeatError('bad_response', `The server answered ${path} with no JSON object`, { status: response.status });
  if (!response.ok) {
    const reason = `${String(json.error)}: ${String(json.reason)}`;
    if (response.status === 400) throw new FeatValidationError('invalid_argument', `The server refused the query (${reason})`, { status: 400 });
    throw toFeatError({ ...json, status: response.status, message: reason });
  }
  return json;
}

/**
 * Runs one Mango request to completion: every page up to `limit` documents that are {@link kept} (all when
 * `undefined`). Remote: `_find` pages of {@link FIND_PAGE_SIZE} linked by their `bookmark`; local: one pouchdb-find
 * call (more only when dropped documents left the page short).
 */
async function runMango(io: StoreIO, db: Db, request: Record<string, unknown>, limit: number | undefined, warn: (w: string) => void): Promise<StoredDoc[]> {
  const now = Date.now();
  const docs: StoredDoc[] = [];
  let bookmark: string | undefined;
  let skip = typeof request.skip === 'number' ? request.skip : 0;
  for (let page = 0; ; page++) {
    const missing = limit === undefined ? undefined : limit - docs.length;
    let answer: FindResponse;
    if (io.ctx.local) {
      const find = (await findPlugin()).find;
      // pouchdb-find's default limit is 25, like CouchDB's: the SDK always says how many it wants.
      answer = (await find.call(pouchOf(db), { ...request, skip, limit: missing ?? Number.MAX_SAFE_INTEGER }).catch((error: unknown) => {
        throw toFeatError(error);
      })) as FindResponse;
    } else {
      const want = missing === undefined ? FIND_PAGE_SIZE : Math.min(FIND_PAGE_SIZE, missing);
      answer = (await post(db as FetchDb, '_find', { ...request, limit: want, ...(bookmark ? { bookmark, skip: 0 } : { skip }) })) as FindResponse;
    }
    if (!Array.isArray(answer.docs)) throw new FeatError('bad_response', 'The server answered _find without docs');
    if (answer.warning && page === 0) warn(answer.warning);
    const asked = io.ctx.local ? (missing ?? Number.MAX_SAFE_INTEGER) : missing === undefined ? FIND_PAGE_SIZE : Math.min(FIND_PAGE_SIZE, missing);
    for (const doc of answer.docs) if (kept(doc, now)) docs.push(doc);
    skip += answer.docs.length;
    if (answer.docs.length < asked || (limit !== undefined && docs.length >= limit)) return docs;
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

/** The matching documents (`{ _id, doc: value }`), in the query's order. */
export async function findDocs(io: StoreIO, query: PlannedQuery, options: FindOptions = {}): Promise<MatchDoc[]> {
  const warn = options.onWarning ?? consoleWarning;
  const db = await io.ctx.db();
  const sort = query.sort.map((s) => ({ [s.field]: s.desc ? 'desc' : 'asc' }));
  const sortFields = query.sort.map((s) => s.field);
  await Promise.all([sortFields.length ? ensureIndex(io, db, sortFields) : undefined, ensureIndex(io, db, MANIFEST_INDEX)]);
  // Chunked values: their manifests (rare, indexed) are read first; with any, paging is done here after merging them.
  const manifests = await runMango(io, db, { selector: scoped(query.prefix, { 'feat.chunks': { $exists: true } }, false) }, undefined, () => undefined);
  const chunked: MatchDoc[] = [];
  if (manifests.length > 0) {
    const { matches } = await import('./memory.js');
    const valueDb = await io.db();
    for (const manifest of manifests) {
      const value = await io.valueOf(valueDb, manifest);
      const doc = { _id: manifest._id, doc: value };
      if (value !== undefined && (await matches(doc, query.selector))) chunked.push(doc);
    }
  }
  const merged = chunked.length > 0;
  const request: Record<string, unknown> = { selector: scoped(query.prefix, query.selector) };
  if (sort.length) request.sort = sort;
  if (query.skip && !merged) request.skip = query.skip;
  const limit = query.limit === undefined ? undefined : merged ? query.limit + query.skip : query.limit;
  let docs: MatchDoc[] = limit === 0 ? [] : await runMango(io, db, request, limit, warn);
  if (merged) {
    const { compareDocs } = await import('./memory.js');
    const order = await compareDocs(query.sort);
    docs = [...docs, ...chunked].sort(order).slice(query.skip, query.limit === undefined ? undefined : query.skip + query.limit);
  }
  return docs;
}

/** `store.createIndex({ fields })`: an index of the value's fields, created once (idempotent). */
export async function createIndex(io: StoreIO, fields: string[]): Promise<void> {
  await ensureIndex(io, await io.ctx.db(), fields.map((f) => `doc.${f}`));
}
