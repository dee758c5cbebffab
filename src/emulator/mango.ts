/**
 * Mango (`_find`, `_index`, `_explain`) as CouchDB 3.4 answers it (COUCHDB-FACTS.md, "Mango"). pouchdb-find, called on
 * the database without installing it globally, keeps the indexes and plans; the answer is CouchDB's:
 * - `_find`: which documents match, and in which order, by CouchDB's rules (mango-match.ts: ICU collation, no match
 *   below `null` or a scalar, `$ne`/`$nin`/`$not`/`$nor` never on a missing field, `$regex` over UTF-8 bytes): the
 *   used index's rows in its order (a json index: the documents with all its fields, by their values then ids;
 *   `_all_docs`: by id bytes), reversed for a descending sort, filtered, then `skip`/`limit` and `fields`. Default
 *   `limit` 25; every answer carries a `bookmark` (passing it back returns the next page); the `warning` when no
 *   index serves the query; `400 no_usable_index` for a sort no index covers; 400 for bad queries
 *   (`missing_required_key`, `invalid_operator`, `invalid_non_neg_integer`, `bad_arg`, `invalid_bookmark`);
 *   `use_index` naming a missing or unsuitable index: 200 with CouchDB's warning (`allow_fallback: false`: 400
 *   `invalid_index`, as where only `_all_docs` serves); `$beginsWith`; never a design document; CouchDB's own 500
 *   `function_clause` on a `$gt` after an equality at its value (mango-explain.ts `rangeFails`).
 *   `execution_stats: true` adds CouchDB's counters (keys and documents examined: the rows read to fill the page).
 * - The index is CouchDB's choice (its best usable json index, else `_all_docs`; a partial index only when `use_index`
 *   names it) where pouchdb-find's differs: it
 *   takes `_all_docs` for any `_id` condition or a `$ne`, and an index for a field the selector does not require.
 * - `_index`: `POST` → `{ result: 'created' | 'exists', id, name }` (`ddoc` with or without `_design/`); `GET` (paged
 *   by `limit`/`skip`); `DELETE /{db}/_index/<ddoc>/json/<name>`; CouchDB's errors (`missing_required_key`,
 *   `invalid_index` for a type other than json, `unsupported_mixed_sort`, `404 not_found "missing"`, `405` "Only
 *   GET,POST allowed").
 * - `_explain`: CouchDB's answer, key for key (mango-explain.ts): `index` (`null` for a sort no index serves: 200, not
 *   400), `selector` normalized, `opts`, `index_candidates` with their analysis, `selector_hints`, `mrargs`, `covering`. */
import { createRequire } from 'node:module';
import type { Request, Response } from 'express';
import { emptyRange, escapeRegex, forEngine } from '../query/engine.js';
import { checkSelectorRegexes } from './guard.js';
import { analyseIndex, dottedFields, explainAnswer, indexJson, rangeFails, usableJsonIndexes, type IndexInfo } from './mango-explain.js';
import { collate, compareBytes, compilesAsPcre, found, getField, InvalidFieldName, matches, normalize, parseField, project } from './mango-match.js';
import { sendJson } from './http.js';
import type { Database } from './storage.js';

const require = createRequire(import.meta.url);

type FindPlugin = Record<'find' | 'createIndex' | 'getIndexes' | 'deleteIndex' | 'explain', (this: Database, ...args: unknown[]) => Promise<unknown>>;
let findPlugin: FindPlugin | undefined;

/** CouchDB's answer when no index covers a sort. */
/**
 * mango_httpd: an index named like one its design document holds, with another definition, replaces it (`created`);
 * pouchdb-find keeps the old one and answers `exists`. The old one is taken out first.
 */
async function replaceChanged(db: Database, ddocId: string, name: unknown, index: Record<string, unknown>): Promise<void> {
  if (typeof name !== 'string') return;
  const ddoc = (await db.get(ddocId).catch(() => undefined)) as { views?: Record<string, { options?: { def?: unknown } }> } | undefined;
  const view = ddoc?.views?.[name];
  if (!view || JSON.stringify(view.options?.def) === JSON.stringify(index)) return;
  delete ddoc.views![name];
  await db.put(ddoc as never);
}

export const NO_USABLE_INDEX = { error: 'no_usable_index', reason: 'No index exists for this sort, try indexing by the sort fields.' };
/** CouchDB's warning when a query examined many documents per result (over {@link SCAN_WARNING_RATIO}). */
export const SCAN_WARNING =
  'The number of documents examined is high in proportion to the number of results returned. Consider adding a more specific index to improve this.';
const SCAN_WARNING_RATIO = 10;

/** CouchDB's warning when `_all_docs` serves a query. */
export const NO_INDEX_WARNING = 'No matching index found, create an index to optimize query time.';
/** CouchDB's default `limit` of `_find`. */
export const DEFAULT_FIND_LIMIT = 25;

const OPERATORS = new Set([
  '$and', '$or', '$nor', '$not', '$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$all', '$exists', '$type', '$size', '$mod',
  '$regex', '$elemMatch', '$allMatch', '$keyMapMatch', '$beginsWith',
]);

class MangoError extends Error {
  constructor(
    readonly status: number,
    readonly body: { error: string; reason: string },
  ) {
    super(body.reason);
  }
}
const bad = (error: string, reason: string) => new MangoError(400, { error, reason });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The arguments `mango_selector:norm_ops/1` takes for the operators it checks (the others take any value). */
function argumentFits(op: string, arg: unknown): boolean {
  switch (op) {
    case '$mod':
      return Array.isArray(arg) && arg.length === 2 && arg.every(Number.isSafeInteger);
    case '$size':
      return Number.isSafeInteger(arg) && (arg as number) >= 0;
    case '$exists':
      return typeof arg === 'boolean';
    case '$type':
      return typeof arg === 'string';
    case '$not':
    case '$elemMatch':
    case '$allMatch':
    case '$keyMapMatch':
      return isObject(arg);
    default:
      return true;
  }
}

/** The `$type` names of `mango_json:type/1`. */
const TYPE_NAMES = new Set(['null', 'boolean', 'number', 'string', 'array', 'object']);

/** mango_opts's `_find` (and `_explain`) request members: any other is `invalid_key`. */
const FIND_KEYS = new Set([
  'selector', 'use_index', 'bookmark', 'limit', 'skip', 'sort', 'fields', 'partition', 'r', 'conflicts', 'stale', 'update', 'stable',
  'execution_stats', 'allow_fallback',
]);

/** A top-level condition with an empty field name (`{"": 1}`): mango_selector refuses it (inside `$and`, not). */
const missesFieldName = (selector: Record<string, unknown>): boolean => Object.keys(selector).includes('');

/** Checks every operator and rewrites `$beginsWith` (which pouchdb-find lacks) as an anchored `$regex`. */
function checked(selector: unknown): unknown {
  if (Array.isArray(selector)) return selector.map(checked);
  if (!isObject(selector)) return selector;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(selector)) {
    if (key.startsWith('$') && !OPERATORS.has(key)) throw bad('invalid_operator', `Invalid operator: ${key}`);
    if (key === '$beginsWith') {
      if (typeof value !== 'string') throw bad('invalid_operator', 'Invalid operator: $beginsWith takes a string');
      out.$regex = `^${escapeRegex(value)}`;
    } else if (key === '$regex') {
      if (typeof value !== 'string') throw bad('bad_arg', 'Invalid regular expression');
      // As the matcher reads it: PCRE leaves `[]` open, where JavaScript reads an empty class.
      if (!compilesAsPcre(value)) throw bad('bad_arg', `Invalid regular expression: ${value}`);
      out[key] = value;
    } else if (['$in', '$nin', '$all', '$and', '$or', '$nor'].includes(key) && !Array.isArray(value)) {
      throw bad('bad_arg', `Argument to ${key} must be an array`);
    } else if (['$and', '$or', '$nor'].includes(key) && (value as unknown[]).length === 0) {
      // pouchdb-find cannot plan an empty one (it fails); what it means is the matcher's business, not the plan's.
    } else if (!argumentFits(key, value)) {
      throw bad('bad_arg', `Bad argument for operator ${key}: ${JSON.stringify(value)}`);
    } else if (key === '$type' && !TYPE_NAMES.has(value as string)) {
      // CouchDB matches nothing of a type it does not know; pouchdb-find (which only plans here) refuses it.
      out[key] = 'null';
    } else out[key] = checked(value);
  }
  return out;
}

/**
 * A `_changes` `filter=_selector` selector as CouchDB runs it (`couch_changes` → `mango_selector`): checked as `_find`
 * checks it, matched by the same rules. Throws the reason CouchDB answers (`400 bad_request` there).
 */
export function changesSelector(selector: Record<string, unknown>): (doc: unknown) => boolean {
  try {
    if (missesFieldName(selector)) throw bad('invalid_selector', 'One or more conditions is missing a field name.');
    checked(selector);
    const node = normalize(selector);
    return (doc) => matches(node, doc);
  } catch (error) {
    if (error instanceof MangoError || error instanceof InvalidFieldName) throw new Error(error.message);
    throw error;
  }
}

function count(body: Record<string, unknown>, name: 'limit' | 'skip'): number | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw bad('invalid_non_neg_integer', `Invalid value for ${name}: ${JSON.stringify(value)}`);
  return value as number;
}

const encodeBookmark = (offset: number) => Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
function decodeBookmark(bookmark: unknown): number {
  try {
    const offset = (JSON.parse(Buffer.from(String(bookmark), 'base64url').toString()) as { o?: unknown }).o;
    if (Number.isSafeInteger(offset) && (offset as number) >= 0) return offset as number;
  } catch {
    // answered below
  }
  throw bad('invalid_bookmark', `Invalid bookmark value: ${JSON.stringify(bookmark)}`);
}

/** A sort (or index) field as CouchDB takes it: a name, or `{ name: "asc" | "desc" }`. */
const sortSpec = (spec: unknown): boolean =>
  typeof spec === 'string' ||
  (isObject(spec) && Object.keys(spec).length === 1 && ['asc', 'desc'].includes(String(Object.values(spec)[0])) && typeof Object.values(spec)[0] === 'string');

const sortFields = (sort: unknown): string[] =>
  Array.isArray(sort) ? sort.map((s) => (typeof s === 'string' ? s : isObject(s) ? (Object.keys(s)[0] ?? '') : '')) : [];

/** The `_find` (or `_explain`) request as pouchdb-find takes it, with what the answer adds. */
async function prepare(plugin: FindPlugin, db: Database, body: unknown) {
  if (!isObject(body)) throw bad('bad_request', 'Request body must be a JSON object');
  const unknown = Object.keys(body).find((key) => !FIND_KEYS.has(key));
  if (unknown !== undefined) throw bad('invalid_key', `Invalid key ${unknown} for this request.`);
  if (!('selector' in body)) throw bad('missing_required_key', 'Missing required key: selector');
  if (!isObject(body.selector)) throw bad('bad_arg', 'Selector must be a JSON object');
  if (missesFieldName(body.selector)) throw bad('invalid_selector', 'One or more conditions is missing a field name.');
  // pouchdb-find fails on an empty selector once the database has an index; CouchDB answers every document.
  // A field's sub-object of plain fields is a condition on each (`{ doc: { n: 1 } }` = `{ "doc.n": 1 }`), as in CouchDB.
  const planned = checked(dottedFields(body.selector)) as Record<string, unknown>;
  const selector = Object.keys(planned).length === 0 ? { _id: { $gt: null } } : planned;
  const request: Record<string, unknown> = { ...body, selector };
  // mango_opts: `fields` a list of field names, `sort` a list of names or `{ name: direction }`.
  if (body.fields !== undefined && !(Array.isArray(body.fields) && body.fields.every((f) => typeof f === 'string'))) {
    throw bad('invalid_fields', `Fields must be an array of strings, not: ${JSON.stringify(body.fields)}`);
  }
  if (body.sort !== undefined && !Array.isArray(body.sort)) throw bad('invalid_sort_json', `Sort must be an array of sort specs, not: ${JSON.stringify(body.sort)}`);
  for (const spec of (body.sort ?? []) as unknown[]) if (!sortSpec(spec)) throw bad('invalid_sort_field', `Invalid sort field: ${JSON.stringify(spec)}`);
  const limit = count(body, 'limit') ?? DEFAULT_FIND_LIMIT;
  let skip = count(body, 'skip') ?? 0;
  if (body.bookmark !== undefined && body.bookmark !== 'nil') skip = decodeBookmark(body.bookmark);
  delete request.bookmark;
  let warning: string | undefined;
  const fields = sortFields(body.sort);
  const { indexes } = (await plugin.getIndexes.call(db)) as { indexes: IndexInfo[] };
  // `allow_fallback: false`: CouchDB answers 400 where it would fall back to `_all_docs`.
  const fallback = body.allow_fallback !== false;
  if (body.use_index !== undefined) {
    const wanted = (Array.isArray(body.use_index) ? body.use_index : [body.use_index]).map(String);
    const ddoc = wanted[0]?.startsWith('_design/') ? wanted[0] : `_design/${wanted[0]}`;
    // Named, an index is used if it exists and suits the query (a partial one too: naming it is how it is used).
    const named = indexes.find((i) => i.ddoc === ddoc && (wanted[1] === undefined || i.name === wanted[1]));
    if (!named || !analyseIndex(named, request.selector as Record<string, unknown>, fields, true)) {
      if (!fallback) throw bad('invalid_index', `${[ddoc, ...wanted.slice(1)].join(', ')} specified by \`use_index\` could not be found or it is not suitable.`);
      warning = `${ddoc} was not used because it does not contain a valid index for this query.`;
      delete request.use_index;
    }
  }
  type Plan = { index?: IndexInfo & { ddoc: string | null; def?: { fields?: unknown[] } } };
  const explain = async (useIndex: unknown) => {
    // pouchdb-find plans on a form it reads right (with two `$or`s in an `$and` it failed: "reading 'startkey'").
    const planned = { selector: forEngine(request.selector as Record<string, unknown>), ...(fields.length ? { sort: body.sort } : {}), ...(useIndex ? { use_index: useIndex } : {}) };
    return (await plugin.explain.call(db, planned)) as Plan;
  };
  let plan: Plan;
  try {
    plan = await explain(request.use_index);
  } catch (error) {
    // pouchdb-find refuses a sort where it takes no index (its own rules: a `$nin`, an `$elemMatch`…), and fails on a
    // range that cannot hold (`$gt: 2, $lt: 1`): CouchDB's choice of index below decides.
    if (!/sort/i.test(String((error as Error).message)) && !emptyRange(error)) throw error;
    plan = {};
  }
  if (request.use_index === undefined) {
    // CouchDB's choice: the best usable json index, else `_all_docs`. pouchdb-find takes `_all_docs` on a tie (an `_id`
    // condition) or where it cannot narrow the index (`$ne`: CouchDB reads the whole index), and takes an index whose
    // field the selector does not require (`$exists: false`: CouchDB cannot, the index lacks documents without it).
    const [best] = usableJsonIndexes(indexes, request.selector as Record<string, unknown>, fields);
    if (best?.ddoc && !(best.ddoc === plan.index?.ddoc && best.name === plan.index.name)) {
      const useIndex = [best.ddoc.slice('_design/'.length), best.name];
      const better = await explain(useIndex).catch(() => undefined);
      plan = better?.index?.ddoc === best.ddoc ? better : { index: best };
      request.use_index = useIndex;
    } else if (!best && plan.index?.ddoc && (fields.length === 0 || !analyseIndex(plan.index, request.selector as Record<string, unknown>, fields))) {
      // (pouchdb-find also takes a partial index unasked: CouchDB never does.)
      const allDocs = indexes.find((i) => i.ddoc === null);
      if (allDocs) plan = { index: allDocs };
    }
  }
  // The default index (`_all_docs`) serves only a sort on `_id` of a selector on `_id` (CouchDB refuses the others);
  // used at all, CouchDB warns.
  const onDefault = plan.index?.ddoc === null || plan.index?.ddoc === undefined;
  if (fields.length > 0) {
    if (onDefault && (fields.some((f) => f !== '_id') || !('_id' in (body.selector as object)))) throw new MangoError(400, NO_USABLE_INDEX);
    if (!onDefault) {
      const indexed = (plan.index?.def?.fields ?? []).map((f) => (isObject(f) ? Object.keys(f)[0] : String(f)));
      if (!fields.every((f, i) => indexed[i] === f)) throw new MangoError(400, NO_USABLE_INDEX);
    }
  }
  if (onDefault && !fallback) throw bad('invalid_index', 'You must specify an index with the `use_index` parameter.');
  if (rangeFails(onDefault ? null : (plan.index ?? null), request.selector as Record<string, unknown>)) {
    throw new MangoError(500, { error: 'unknown_error', reason: 'function_clause' });
  }
  if (onDefault) warning = [NO_INDEX_WARNING, warning].filter(Boolean).join('\n');
  return { limit, skip, warning, index: plan.index ?? null, indexes };
}

/** A selector that is one `$and`, `$or` or `$nor` (which normalizes to `$and`) of an empty list. */
function noop(selector: Record<string, unknown>): boolean {
  const entries = Object.entries(selector);
  const [op, arg] = entries[0] ?? [];
  return entries.length === 1 && ['$and', '$or', '$nor'].includes(op!) && Array.isArray(arg) && arg.length === 0;
}

type Doc = Record<string, unknown> & { _id: string };
/**
 * The last listings of documents (a few databases), each while its `update_seq` stays: bookmark pages, and queries
 * asked at once, share one.
 */
const listings = new Map<Database, { seq: unknown; docs: Promise<Doc[]> }>();
const LISTINGS_KEPT = 4;

/** Every document but design documents, in `_all_docs` order (UTF-8 bytes of the ids). */
async function allDocuments(db: Database, conflicts: boolean): Promise<Doc[]> {
  if (conflicts) return listDocuments(db, true);
  const seq = (await db.info()).update_seq;
  const cached = listings.get(db);
  if (cached && cached.seq === seq) return cached.docs;
  const docs = listDocuments(db, false);
  listings.delete(db);
  listings.set(db, { seq, docs });
  for (const old of listings.keys()) if (listings.size > LISTINGS_KEPT) listings.delete(old);
  docs.catch(() => listings.get(db)?.docs === docs && listings.delete(db));
  return docs;
}

async function listDocuments(db: Database, conflicts: boolean): Promise<Doc[]> {
  // PouchDB's LevelDB-based adapters list no id past U+00FF without an end (CouchDB lists them all): an explicit one,
  // the last id in the adapter's order (UTF-16 in memory, bytes in LevelDB).
  const endkey = (db as unknown as { adapter?: string }).adapter === 'leveldb' ? '\u{10FFFF}'.repeat(8) : '\uffff'.repeat(8);
  const { rows } = await db.allDocs({ include_docs: true, conflicts, endkey });
  const docs = rows.flatMap((row) => (row.doc && !row.id.startsWith('_design/') ? [row.doc as unknown as Doc] : []));
  // The memory adapter lists ids in UTF-16 order, which differs from the bytes' only around surrogates.
  if (docs.some((d, i) => i > 0 && compareBytes(docs[i - 1]!._id, d._id) > 0)) docs.sort((a, b) => compareBytes(a._id, b._id));
  return docs;
}

/**
 * The documents of a `_find` page as CouchDB finds them (mango-match.ts): the used index's rows in its order (a json
 * index lists the documents that have all its fields and pass its partial filter, by their values, then ids; the
 * default index every document by id), reversed for a descending sort, kept where the selector matches, then `skip`
 * and `limit`. `examined`: the rows read to fill the page.
 */
async function answer(db: Database, body: Record<string, unknown>, index: { ddoc: string | null; def?: unknown } | null, skip: number, limit: number) {
  const all = await allDocuments(db, body.conflicts === true);
  let rows = all;
  const def = (index?.ddoc ? index.def : undefined) as { fields?: unknown[]; partial_filter_selector?: unknown } | undefined;
  if (def?.fields) {
    const paths = def.fields.map((f) => parseField(isObject(f) ? (Object.keys(f)[0] ?? '') : String(f)));
    const partial = isObject(def.partial_filter_selector) ? normalize(def.partial_filter_selector) : null;
    const keyed: { doc: Doc; key: unknown[] }[] = [];
    for (const doc of all) {
      const key = paths.map((p) => getField(doc, p));
      if (key.every(found) && matches(partial, doc)) keyed.push({ doc, key });
    }
    keyed.sort((a, b) => collate(a.key, b.key) || compareBytes(a.doc._id, b.doc._id));
    rows = keyed.map((k) => k.doc);
  }
  const [first] = Array.isArray(body.sort) ? (body.sort as unknown[]) : [];
  if (isObject(first) && Object.values(first)[0] === 'desc') rows = [...rows].reverse();
  const selector = normalize(body.selector as Record<string, unknown>);
  const fields = Array.isArray(body.fields) && body.fields.length > 0 ? body.fields.map(String) : undefined;
  const docs: Record<string, unknown>[] = [];
  let matched = 0;
  let examined = 0;
  for (const doc of rows) {
    if (docs.length >= limit) break;
    examined++;
    if (!matches(selector, doc) || matched++ < skip) continue;
    docs.push(fields ? project(doc, fields) : doc);
  }
  return { docs, examined };
}

/** The `_explain` answer: CouchDB's plan of the query as the emulator runs it (no usable index: `index: null`). */
async function explained(plugin: FindPlugin, db: Database, body: unknown): Promise<Record<string, unknown>> {
  let prepared: Awaited<ReturnType<typeof prepare>> | undefined;
  try {
    prepared = await prepare(plugin, db, body);
  } catch (error) {
    if (!(error instanceof MangoError && error.body.error === NO_USABLE_INDEX.error)) throw error;
  }
  const b = body as Record<string, unknown>;
  const indexes = prepared?.indexes ?? ((await plugin.getIndexes.call(db)) as { indexes: IndexInfo[] }).indexes;
  const useIndex = b.use_index === undefined ? [] : (Array.isArray(b.use_index) ? b.use_index : [b.use_index]).map(String);
  return explainAnswer({
    dbname: (db as unknown as { name: string }).name,
    selector: b.selector as Record<string, unknown>,
    sort: b.sort,
    limit: prepared?.limit ?? count(b, 'limit') ?? DEFAULT_FIND_LIMIT,
    skip: count(b, 'skip') ?? 0,
    fields: Array.isArray(b.fields) ? b.fields.map(String) : undefined,
    useIndex,
    bookmark: b.bookmark,
    winner: prepared?.index ?? null,
    indexes,
    executionStats: b.execution_stats === true,
    r: Number.isSafeInteger(b.r) ? (b.r as number) : 1,
    conflicts: b.conflicts === true,
  });
}

/** Serves `/{db}/_find`, `/{db}/_explain` and `/{db}/_index[/…]`. */
export async function serveMango(db: Database, req: Request, res: Response, segments: string[]): Promise<void> {
  findPlugin ??= require('pouchdb-find') as FindPlugin;
  const plugin = findPlugin;
  const [, endpoint, ...rest] = segments;
  const body = req.body as unknown;
  const query = (isObject(body) ? body : {}) as { selector?: unknown; partial_filter_selector?: unknown; index?: unknown };
  checkSelectorRegexes([query.selector, query.partial_filter_selector, query.index]);
  try {
    if (endpoint === '_explain' && req.method === 'POST') return sendJson(res, 200, await explained(plugin, db, body));
    if (endpoint === '_find' && req.method === 'POST') {
      const started = performance.now();
      const { limit, skip, warning, index } = await prepare(plugin, db, body);
      // An empty `$and`/`$or`/`$nor` as the whole selector: CouchDB runs nothing and answers no documents, without a
      // bookmark (mango_cursor:maybe_noop_range/2).
      if (noop((body as { selector: Record<string, unknown> }).selector)) return sendJson(res, 200, { docs: [] });
      const { docs, examined } = await answer(db, body as Record<string, unknown>, index, skip, limit);
      const given = (body as { bookmark?: unknown }).bookmark;
      // No document: CouchDB answers the bookmark it was given ("nil" on a first page).
      const bookmark = docs.length > 0 ? encodeBookmark(skip + docs.length) : typeof given === 'string' ? given : 'nil';
      const stats = (body as { execution_stats?: unknown }).execution_stats === true
        ? {
            execution_stats: {
              total_keys_examined: examined,
              total_docs_examined: examined,
              total_quorum_docs_examined: 0,
              results_returned: docs.length,
              execution_time_ms: Math.round((performance.now() - started) * 1000) / 1000,
            },
          }
        : {};
      // mango_cursor:index_scan_warning/1: documents examined per result over `index_scan_warning_threshold` (10).
      const scanned = examined / (docs.length || 1) > SCAN_WARNING_RATIO ? SCAN_WARNING : undefined;
      const warnings = [warning, scanned].filter(Boolean).join('\n');
      return sendJson(res, 200, { docs, bookmark, ...(warnings ? { warning: warnings } : {}), ...stats });
    }
    if (endpoint === '_index' && req.method === 'POST') {
      if (!isObject(body) || !('index' in body)) throw bad('missing_required_key', 'Missing required key: index');
      // mango_idx:idx_mod/1: text indexes need the search service (clouseau), which the deployment does not run.
      if (body.type === 'text') throw new MangoError(503, { error: 'required index service unavailable', reason: 'text' });
      if (body.type !== undefined && typeof body.type !== 'string') throw bad('invalid_string', `Invalid string: ${JSON.stringify(body.type)}`);
      if (body.type !== undefined && body.type !== 'json') throw bad('invalid_index', `Invalid type for index: ${String(body.type)}`);
      const index = body.index;
      const fields = isObject(index) ? index.fields : undefined;
      if (!isObject(index) || !('fields' in index)) throw bad('missing_required_key', 'Missing required key: fields');
      if (!Array.isArray(fields) || fields.length === 0) throw bad('invalid_index_fields', 'Index fields must be a non-empty array');
      for (const f of fields as unknown[]) if (!sortSpec(f)) throw bad('invalid_sort_field', `Invalid sort field: ${JSON.stringify(f)}`);
      if (new Set((fields as unknown[]).map((f) => (isObject(f) ? Object.values(f)[0] : 'asc'))).size > 1) {
        throw bad('unsupported_mixed_sort', 'Sorts currently only support a single direction for all fields.');
      }
      const partial = index.partial_filter_selector;
      if (partial !== undefined && !isObject(partial)) throw bad('invalid_selector_json', `Selector must be a JSON object, not: ${JSON.stringify(partial)}`);
      // `ddoc` may be given with its prefix (pouchdb-find would add another).
      if (typeof body.ddoc === 'string' && body.ddoc.startsWith('_design/')) {
        if (body.ddoc === '_design/') throw bad('illegal_docid', 'Illegal document id `_design/`');
        await replaceChanged(db, body.ddoc, body.name, index);
        return sendJson(res, 200, await plugin.createIndex.call(db, { ...body, ddoc: body.ddoc.slice('_design/'.length) }));
      }
      if (typeof body.ddoc === 'string') await replaceChanged(db, `_design/${body.ddoc}`, body.name, index);
      return sendJson(res, 200, await plugin.createIndex.call(db, body));
    }
    if (endpoint === '_index' && req.method === 'GET' && rest.length === 0) {
      const listed = (await plugin.getIndexes.call(db)) as { total_rows: number; indexes: IndexInfo[] };
      // `limit` (at least 1) and `skip` page the list; `total_rows` stays the total. Out of range: CouchDB's 500.
      const [limit, skip] = (['limit', 'skip'] as const).map((name) => (req.query[name] === undefined ? undefined : Number(req.query[name])));
      if ((limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1)) || (skip !== undefined && !(Number.isSafeInteger(skip) && skip >= 0))) {
        throw new MangoError(500, { error: 'invalid_list_index_params', reason: 'Index parameter ranges: limit > 1, skip > 0' });
      }
      const page = listed.indexes.slice(skip ?? 0, limit === undefined ? undefined : (skip ?? 0) + limit);
      return sendJson(res, 200, { total_rows: listed.total_rows, indexes: page.map(indexJson) });
    }
    if (endpoint === '_index' && req.method === 'DELETE' && rest.length > 0) {
      // `<ddoc>/json/<name>`, the design document's id with or without its prefix; any other path is a missing index.
      const [id, type, name, ...more] = rest[0] === '_design' ? [`_design/${rest[1]}`, ...rest.slice(2)] : rest;
      const ddoc = id!.startsWith('_design/') ? id! : `_design/${id}`;
      const { indexes } = (await plugin.getIndexes.call(db)) as { indexes: { ddoc: string | null; name: string }[] };
      if (type !== 'json' || more.length > 0 || !indexes.some((i) => i.ddoc === ddoc && i.name === name)) {
        return sendJson(res, 404, { error: 'not_found', reason: 'missing' });
      }
      await plugin.deleteIndex.call(db, { ddoc, name });
      return sendJson(res, 200, { ok: true });
    }
    const allowed = endpoint !== '_index' ? 'POST' : rest.length === 0 ? 'GET,POST' : 'DELETE';
    sendJson(res, 405, { error: 'method_not_allowed', reason: `Only ${allowed} allowed` }, { Allow: allowed });
  } catch (error) {
    if (error instanceof MangoError) return sendJson(res, error.status, error.body);
    if (error instanceof InvalidFieldName) return sendJson(res, 400, { error: 'invalid_field_name', reason: error.message });
    throw error;
  }
}
