/**
 * Mango (`_find`, `_index`, `_explain`) as CouchDB 3.4 answers it (COUCHDB-FACTS.md, "Mango"), on pouchdb-find called on
 * the database without installing it globally:
 * - `_find`: default `limit` 25; every answer carries a `bookmark` (passing it back returns the next page); the
 *   `warning` when no index serves the query; `400 no_usable_index` for a sort no index covers; 400 for bad queries
 *   (`missing_required_key`, `invalid_operator`, `invalid_non_neg_integer`, `bad_arg`, `invalid_bookmark`);
 *   `use_index` naming a missing index: 200 with CouchDB's warning; `$beginsWith`; never a design document.
 * - `_index`: `POST` → `{ result: 'created' | 'exists', id, name }`; `GET`; `DELETE /{db}/_index/<ddoc>/json/<name>`.
 * - `_explain`: pouchdb-find's plan (its shape differs from CouchDB's).
 */
import { createRequire } from 'node:module';
import type { Request, Response } from 'express';
import { checkSelectorRegexes } from './guard.js';
import { sendJson } from './http.js';
import type { Database } from './storage.js';

const require = createRequire(import.meta.url);

type FindPlugin = Record<'find' | 'createIndex' | 'getIndexes' | 'deleteIndex' | 'explain', (this: Database, ...args: unknown[]) => Promise<unknown>>;
let findPlugin: FindPlugin | undefined;

/** CouchDB's answer when no index covers a sort. */
export const NO_USABLE_INDEX = { error: 'no_usable_index', reason: 'No index exists for this sort, try indexing by the sort fields.' };
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
const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

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
      try {
        new RegExp(value);
      } catch {
        throw bad('bad_arg', `Invalid regular expression: ${value}`);
      }
      out[key] = value;
    } else if (['$in', '$nin', '$all', '$and', '$or', '$nor'].includes(key) && !Array.isArray(value)) {
      throw bad('bad_arg', `Argument to ${key} must be an array`);
    } else out[key] = checked(value);
  }
  return out;
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

const sortFields = (sort: unknown): string[] =>
  Array.isArray(sort) ? sort.map((s) => (typeof s === 'string' ? s : isObject(s) ? (Object.keys(s)[0] ?? '') : '')) : [];

/** The `_find` (or `_explain`) request as pouchdb-find takes it, with what the answer adds. */
async function prepare(plugin: FindPlugin, db: Database, body: unknown) {
  if (!isObject(body)) throw bad('bad_request', 'Request body must be a JSON object');
  if (!('selector' in body)) throw bad('missing_required_key', 'Missing required key: selector');
  if (!isObject(body.selector)) throw bad('bad_arg', 'Selector must be a JSON object');
  // pouchdb-find fails on an empty selector once the database has an index; CouchDB answers every document.
  const selector = Object.keys(body.selector).length === 0 ? { _id: { $gt: null } } : checked(body.selector);
  const request: Record<string, unknown> = { ...body, selector };
  const limit = count(body, 'limit') ?? DEFAULT_FIND_LIMIT;
  let skip = count(body, 'skip') ?? 0;
  if (body.bookmark !== undefined && body.bookmark !== 'nil') skip = decodeBookmark(body.bookmark);
  delete request.bookmark;
  let warning: string | undefined;
  if (body.use_index !== undefined) {
    const wanted = (Array.isArray(body.use_index) ? body.use_index : [body.use_index]).map(String);
    const ddoc = wanted[0]?.startsWith('_design/') ? wanted[0] : `_design/${wanted[0]}`;
    const { indexes } = (await plugin.getIndexes.call(db)) as { indexes: { ddoc: string | null; name: string }[] };
    if (!indexes.some((i) => i.ddoc === ddoc && (wanted[1] === undefined || i.name === wanted[1]))) {
      warning = `${ddoc} was not used because it does not contain a valid index for this query.`;
      delete request.use_index;
    }
  }
  const fields = sortFields(body.sort);
  let plan: { index?: { ddoc: string | null; def?: { fields?: unknown[] } } };
  try {
    const planned = { selector: request.selector, ...(fields.length ? { sort: body.sort } : {}), ...(request.use_index ? { use_index: request.use_index } : {}) };
    plan = (await plugin.explain.call(db, planned)) as typeof plan;
  } catch (error) {
    if (/sort/i.test(String((error as Error).message))) throw new MangoError(400, NO_USABLE_INDEX);
    throw error;
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
  if (onDefault) warning = [NO_INDEX_WARNING, warning].filter(Boolean).join('\n');
  return { request, limit, skip, warning };
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
    if ((endpoint === '_find' || endpoint === '_explain') && req.method === 'POST') {
      const { request, limit, skip, warning } = await prepare(plugin, db, body);
      if (endpoint === '_explain') return sendJson(res, 200, await plugin.explain.call(db, { ...request, limit, skip }));
      const answer = (await plugin.find.call(db, { ...request, limit, skip })) as { docs: { _id: string }[]; warning?: string };
      const docs = answer.docs.filter((d) => !d._id.startsWith('_design/'));
      return sendJson(res, 200, { docs, bookmark: encodeBookmark(skip + answer.docs.length), ...(warning ? { warning } : {}) });
    }
    if (endpoint === '_index' && req.method === 'POST') {
      const index = isObject(body) ? body.index : undefined;
      const fields = isObject(index) ? index.fields : undefined;
      if (!Array.isArray(fields) || fields.length === 0) throw bad('bad_request', 'Missing required key: index.fields (a non-empty array)');
      return sendJson(res, 200, await plugin.createIndex.call(db, body));
    }
    if (endpoint === '_index' && req.method === 'GET' && rest.length === 0) return sendJson(res, 200, await plugin.getIndexes.call(db));
    if (endpoint === '_index' && req.method === 'DELETE' && rest.length === 3 && rest[1] === 'json') {
      const ddoc = rest[0]!.startsWith('_design/') ? rest[0]! : `_design/${rest[0]}`;
      const { indexes } = (await plugin.getIndexes.call(db)) as { indexes: { ddoc: string | null; name: string }[] };
      if (!indexes.some((i) => i.ddoc === ddoc && i.name === rest[2])) {
        return sendJson(res, 404, { error: 'not_found', reason: 'Index not found' });
      }
      await plugin.deleteIndex.call(db, { ddoc, name: rest[2] });
      return sendJson(res, 200, { ok: true });
    }
    sendJson(res, 405, { error: 'method_not_allowed', reason: 'Only GET,POST,DELETE allowed' });
  } catch (error) {
    if (error instanceof MangoError) return sendJson(res, error.status, error.body);
    throw error;
  }
}
