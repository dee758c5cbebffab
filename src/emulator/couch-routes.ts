/**
 * The CouchDB routes the emulator answers itself, in front of express-pouchdb: the ones that would run code (refused),
 * crash PouchDB (answered safely) or differ from CouchDB 3.4 (answered like it). Returns false when express-pouchdb
 * should serve the request.
 */
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { allDocsByCodePoint } from './all-docs-order.js';
import { serveChanges, str } from './changes-feed.js';
import { acceptsMultipartMixed, badRequest, bulkDocs, bulkGet, couchErrorOf, docEtag, HttpError, isRev, leafRevsInDocInfoOrder, methodNotAllowed, openRevs, openRevsMultipart, parseOpenRevs, readWithMeta, revsDiff, writeAtNextRev } from './couch-docs.js';
import type { LocalDocs, LocalDocsOptions, ReadOptions } from './couch-docs.js';
import type { Fidelity } from './fidelity.js';
import { NO_JAVASCRIPT, runsCode, TEMP_VIEW_GONE } from './guard.js';
import { sendJson } from './http.js';
import { DEFAULT_REVS_LIMIT, type Database } from './storage.js';
import { checkBeforeWrite, shardCount } from './validation-funs.js';

type Query = Record<string, unknown>;

export interface RouteContext {
  fidelity: Fidelity;
  local: LocalDocs;
  /** `PUT /{db}/_revs_limit` values per database (in memory: a restart with `dataDir` forgets them). */
  revsLimits: Map<string, number>;
  /** Applies a `_revs_limit` to the database's later writes (storage.ts). */
  applyRevsLimit(dbName: string, limit: number): Promise<void>;
  /** The database's update sequence when the emulator opened it (storage.ts; validation-funs.ts). */
  openedSeq(dbName: string): number;
  /** The database's identity as made, named by its sequences (storage.ts; fidelity.ts). */
  instance(dbName: string): string;
  /** The second the database was made (its `instance_start_time`; storage.ts). */
  createdAt(dbName: string): string;
}

/**
 * A document's URL as chttpd_db:absolute_uri writes it in `Location` behind nginx (its `$host`: no port;
 * couch_util:url_encode: `/` too is escaped).
 */
export function locationOf(req: Request, dbName: string, docId: string): string {
  return `http://${req.hostname}/${urlEncode(dbName)}/${urlEncode(docId)}`;
}

const urlEncode = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9_.:-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

/** An attachment's URL in the `Location` of its upload (chttpd_db: the name escaped as a document id is, `/` too). */
export function attachmentLocationOf(req: Request, dbName: string, docId: string, name: string): string {
  return `${locationOf(req, dbName, docId)}/${urlEncode(name)}`;
}

/**
 * chttpd_db:parse_ranges over mochiweb's `Range` parsing: a range whose end (held to the last byte) comes before its
 * start is unsatisfiable (`bytes=50-60` of 11 bytes) → 416. A header that does not parse is ignored.
 */
function unsatisfiableRange(header: string | undefined, length: number): boolean {
  const m = /^bytes=(.+)$/.exec(header ?? '');
  if (!m) return false;
  const ranges: [number | undefined, number | undefined][] = [];
  for (const part of (m[1] as string).split(',')) {
    const r = /^\s*(\d*)-(\d*)\s*$/.exec(part);
    if (!r || (r[1] === '' && r[2] === '')) return false;
    ranges.push([r[1] === '' ? undefined : Number(r[1]), r[2] === '' ? undefined : Number(r[2])]);
  }
  for (const [from, to] of ranges) {
    if (from === 0 && to === undefined) return false;
    if (from === undefined) continue;
    const end = to === undefined || to >= length ? length - 1 : to;
    if (end < from) return true;
  }
  return false;
}

/**
 * The methods chttpd_db names in the 405 of a database route that takes no other (`Only <methods> allowed`, and the
 * `Allow` header). Routes the emulator serves itself say it where they are served.
 */
const ROUTE_METHODS: Record<string, string> = {
  '': 'DELETE,GET,HEAD,POST',
  _all_docs: 'GET,HEAD,POST',
  _design_docs: 'GET,HEAD,POST',
  _local_docs: 'GET,HEAD,POST',
  '_design_docs/queries': 'POST',
  '_local_docs/queries': 'POST',
  _security: 'PUT,GET',
  _ensure_full_commit: 'POST',
  _find: 'POST',
  _explain: 'POST',
  _index: 'GET,POST',
};

function methodsOf(segments: string[]): string | undefined {
  const route = segments.slice(1).join('/');
  // (Own entries only: a document named `constructor` or `toString` is a document, not an inherited route.)
  return segments.length <= 3 && Object.hasOwn(ROUTE_METHODS, route) ? ROUTE_METHODS[route] : undefined;
}

/** What a route taking `allowed` serves: `HEAD` wherever `GET` is (chttpd reads one as the other); `PUT /{db}` creates it. */
function acceptedMethods(allowed: string, database: boolean): string[] {
  const methods = allowed.split(',');
  if (methods.includes('GET')) methods.push('HEAD');
  if (database) methods.push('PUT');
  return methods;
}

/**
 * A read of `/{db}/_design%2F<name>…` (the slash encoded): CouchDB redirects it (chttpd_db:db_req) — `301` with no body,
 * `Location` the raw path (its query too) with the first `_design%2F` (any case) made `_design/` and any later one
 * dropped, absolute behind nginx (its `$host`: no port). Other methods address the document as `_design/<name>` does.
 */
function designRedirect(req: Request, res: Response): void {
  const [head = '', ...tail] = req.originalUrl.split(/_design%2F/i);
  res.status(301).setHeader('Location', `http://${req.hostname}${head}_design/${tail.join('')}`);
  res.end();
}

/** `_all_docs` options as PouchDB reads them, from CouchDB's query parameters or a `queries` entry. */
function allDocsOptions(source: Query, fromQueryString: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const read = (v: unknown) => (fromQueryString && typeof v === 'string' ? (JSON.parse(v) as unknown) : v);
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const key = name === 'start_key' ? 'startkey' : name === 'end_key' ? 'endkey' : name;
    if (JSON_PARAMS.includes(name)) out[key] = read(value);
    // A document id as it is (not JSON), in a query string or a body.
    else if (name === 'startkey_docid' || name === 'start_key_doc_id') out.startkey_docid = value;
    else if (name === 'endkey_docid' || name === 'end_key_doc_id') out.endkey_docid = value;
    else if (name === 'limit' || name === 'skip') {
      // Not a count (the default profile lets it through): ignored, as express-pouchdb did.
      const n = Number(value);
      if (Number.isInteger(n) && n >= 0) out[key] = n;
    }
    else if (BOOLEAN_PARAMS.includes(name)) out[key] = value === true || value === 'true';
  }
  return out;
}

/**
 * couch_mrview_util:all_docs_key_opts: for `_all_docs` a row's key is its id, and `startkey_docid`/`endkey_docid` are the
 * ends of the range where no `startkey`/`endkey` is given (PouchDB knows them only for views). Not with `keys`.
 */
function withDocIdRange(options: Record<string, unknown>): Record<string, unknown> {
  const { startkey_docid: startId, endkey_docid: endId, ...rest } = options;
  if (Array.isArray(rest.keys)) return rest;
  if (rest.startkey === undefined && typeof startId === 'string') rest.startkey = startId;
  if (rest.endkey === undefined && typeof endId === 'string') rest.endkey = endId;
  return rest;
}

/**
 * `_all_docs` with `keys` holding something other than strings (`[null]`): CouchDB answers such a key
 * `{"key":…,"error":"not_found"}`; PouchDB answered the first document instead. Undefined when PouchDB answers right.
 */
async function allDocsWithOddKeys(db: Database, options: Record<string, unknown>): Promise<unknown> {
  const keys = options.keys;
  if (!Array.isArray(keys) || keys.every((k) => typeof k === 'string')) return undefined;
  const strings = keys.filter((k): k is string => typeof k === 'string');
  const page = await db.allDocs({ ...options, keys: strings } as never);
  const byKey = new Map<string, unknown[]>();
  for (const row of page.rows as { key: string }[]) byKey.set(row.key, [...(byKey.get(row.key) ?? []), row]);
  const rows = keys.map((k) => (typeof k === 'string' ? (byKey.get(k)?.shift() ?? { key: k, error: 'not_found' }) : { key: k, error: 'not_found' }));
  return { total_rows: page.total_rows, offset: null, rows };
}

/**
 * `_all_docs` by `keys`: CouchDB answers a `_local` id with its row (`{id, key, value: {rev}}`, and `doc` with
 * `include_docs`); PouchDB answered `not_found`. A deleted document's row has no `doc` member without `include_docs`
 * (PouchDB's has `"doc": null`).
 */
async function withLocalRows(local: LocalDocs, db: Database, rows: unknown[], includeDocs: boolean): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const row of rows) {
    const r = row as { key?: unknown; doc?: unknown; value?: { deleted?: unknown } };
    if (typeof r.key === 'string' && r.key.startsWith('_local/')) {
      const doc = await local.get(db, r.key).catch(() => undefined);
      out.push(doc === undefined ? { key: r.key, error: 'not_found' } : { id: r.key, key: r.key, value: { rev: doc._rev }, ...(includeDocs ? { doc } : {}) });
    } else if (!includeDocs && r.value?.deleted === true && 'doc' in r) {
      const { doc: _dropped, ...rest } = r;
      out.push(rest);
    } else out.push(row);
  }
  return out;
}

/** Database endpoints PouchDB lacks: `_revs_limit`, `_view_cleanup`, `_missing_revs`, `_all_docs/queries`. */
async function serveDbExtras(ctx: RouteContext, db: Database, dbName: string, req: Request, res: Response, segments: string[]): Promise<boolean> {
  const [, first, second] = segments;
  const method = req.method;
  if (first === '_revs_limit' && segments.length === 2) {
    if (method === 'GET' || method === 'HEAD') {
      sendJson(res, 200, ctx.revsLimits.get(dbName) ?? DEFAULT_REVS_LIMIT);
      return true;
    }
    if (method !== 'PUT') throw methodNotAllowed('PUT,GET');
    const limit = req.body as unknown;
    if (!Number.isInteger(limit) || (limit as number) < 1) throw new HttpError(500, 'unknown_error', 'function_clause');
    if ((ctx.revsLimits.get(dbName) ?? DEFAULT_REVS_LIMIT) !== limit) await ctx.applyRevsLimit(dbName, limit as number);
    ctx.revsLimits.set(dbName, limit as number);
    sendJson(res, 200, { ok: true });
    return true;
  }
  // `POST _compact` is express-pouchdb's; a design document's views have nothing to compact here.
  if (first === '_compact') {
    if (method !== 'POST') throw methodNotAllowed('POST');
    if (second === undefined) return false;
    if ((await db.get(`_design/${second}`).catch(() => undefined)) === undefined) throw new HttpError(404, 'not_found', 'missing');
    sendJson(res, 202, { ok: true });
    return true;
  }
  if (first === '_view_cleanup' && segments.length === 2) {
    if (method !== 'POST') throw methodNotAllowed('POST');
    sendJson(res, 202, { ok: true });
    return true;
  }
  if (first === '_missing_revs' && segments.length === 2) {
    if (method !== 'POST') throw methodNotAllowed('POST');
    const diff = (await revsDiff(db, req.body)) as Record<string, { missing?: string[] }>;
    const missing: Record<string, string[]> = {};
    for (const [id, entry] of Object.entries(diff)) {
      if (entry.missing && entry.missing.length > 0) Object.defineProperty(missing, id, { value: entry.missing, enumerable: true });
    }
    sendJson(res, 200, { missing_revs: missing });
    return true;
  }
  if (first === '_all_docs' && segments.length === 2 && (method === 'GET' || method === 'HEAD' || method === 'POST')) {
    const query = req.query as Query;
    let fromBody: Record<string, unknown> = {};
    if (method === 'POST') {
      const body = req.body as unknown;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('Request body must be a JSON object');
      if ((body as Query).keys !== undefined && !Array.isArray((body as Query).keys)) throw badRequest('`keys` body member must be an array.');
      fromBody = allDocsOptions(body as Query, false);
    }
    let options = { ...fromBody, ...allDocsOptions(query, true) };
    if (str(query.keys) !== undefined && !Array.isArray(options.keys)) throw badRequest('`keys` parameter must be an array.');
    // couch_mrview_util:validate_args refuses `keys` with a range, unless `keys` is empty or is `[K]` with the range K…K
    // (`key=K`); then the range is ignored (PouchDB refused any, with its own text).
    // A GET naming `keys` and `key` in its query: the keys are read, the key ignored (measured).
    if (method !== 'POST' && str(query.keys) !== undefined && str(query.key) !== undefined && str(query.startkey ?? query.start_key ?? query.endkey ?? query.end_key) === undefined) {
      const { key: _ignored, ...rest } = options;
      options = rest;
    }
    if (Array.isArray(options.keys) && (options.key !== undefined || options.startkey !== undefined || options.endkey !== undefined)) {
      const { key, startkey, endkey, ...rest } = options;
      const [start, end, only] = [key ?? startkey, key ?? endkey, rest.keys as unknown[]].map((v) => JSON.stringify(v));
      if (only !== '[]' && !(only === `[${start}]` && start === end)) {
        throw new HttpError(400, 'query_parse_error', '`keys` is incompatible with `key`, `start_key` and `end_key`');
      }
      options = rest;
    }
    options = withDocIdRange(options);
    const page = ((await allDocsWithOddKeys(db, options)) ?? (await allDocsByCodePoint(db, options)) ?? (await db.allDocs(options as never))) as { total_rows: number; offset?: number | null; update_seq?: unknown; rows: unknown[] };
    if (Array.isArray(options.keys)) page.rows = await withLocalRows(ctx.local, db, page.rows, options.include_docs === true);
    // CouchDB's order of members; `offset` is null for `keys`; `update_seq` is the database's (opaque) sequence.
    sendJson(res, 200, {
      total_rows: page.total_rows,
      offset: Array.isArray(options.keys) ? null : (page.offset ?? 0),
      ...(page.update_seq === undefined ? {} : { update_seq: ctx.fidelity.encodeSeq(dbName, Number(page.update_seq), ctx.instance(dbName)) }),
      rows: page.rows,
    });
    return true;
  }
  if (first === '_all_docs' && second === 'queries' && segments.length === 3) {
    if (method !== 'POST') throw methodNotAllowed('POST');
    const body = req.body as unknown;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('Request body must be a JSON object');
    const queries = (body as { queries?: unknown }).queries;
    if (!Array.isArray(queries)) throw badRequest('POST body must include `queries` parameter.');
    const results: unknown[] = [];
    for (const q of queries) {
      if (typeof q !== 'object' || q === null || Array.isArray(q)) throw badRequest('Request body must be a JSON object');
      const options = withDocIdRange(allDocsOptions(q as Query, false));
      if (options.keys !== undefined && !Array.isArray(options.keys)) throw badRequest('`keys` member must be an array.');
      const page = (await allDocsWithOddKeys(db, options)) ?? (await allDocsByCodePoint(db, options)) ?? (await db.allDocs(options as never));
      results.push(page);
    }
    sendJson(res, 200, { results });
    return true;
  }
  return false;
}

function readOptions(query: Query): ReadOptions {
  return { revs: str(query.revs) === 'true', latest: str(query.latest) === 'true', attachments: str(query.attachments) === 'true' };
}

const BOOLEAN_PARAMS = ['include_docs', 'descending', 'conflicts', 'inclusive_end', 'update_seq', 'attachments', 'att_encoding_info', 'sorted', 'reduce', 'group'];

/** Parameters of `_all_docs` (and views) CouchDB reads as JSON: not JSON → 400, as its body parser says it. */
const JSON_PARAMS = ['key', 'keys', 'startkey', 'start_key', 'endkey', 'end_key'];

/** CouchDB's 400 for malformed `_all_docs` query parameters. */
function checkViewQuery(query: Query, strict: boolean): void {
  for (const name of JSON_PARAMS) {
    const v = str(query[name]);
    if (v === undefined) continue;
    try {
      JSON.parse(v);
    } catch {
      throw new HttpError(400, 'bad_request', 'invalid UTF-8 JSON');
    }
  }
  if (!strict) return;
  // couch_mrview_http:parse_pos_int: not an integer (list_to_integer) → "integer", a negative one → "positive integer".
  for (const name of ['limit', 'skip']) {
    const v = str(query[name]);
    if (v === undefined) continue;
    if (!/^[+-]?\d+$/.test(v)) throw new HttpError(400, 'query_parse_error', `Invalid value for integer: "${v}"`);
    if (Number(v) < 0) throw new HttpError(400, 'query_parse_error', `Invalid value for positive integer: "${v}"`);
  }
  for (const name of BOOLEAN_PARAMS) {
    const v = str(query[name]);
    if (v !== undefined && v !== 'true' && v !== 'false') throw new HttpError(400, 'query_parse_error', `Invalid boolean parameter: "${v}"`);
  }
  // couch_mrview_util:validate_args: `_all_docs` is a map view.
  if (str(query.reduce) === 'true') throw new HttpError(400, 'query_parse_error', 'Reduce is invalid for map-only views.');
  const groupLevel = str(query.group_level);
  if (str(query.group) === 'true' || (groupLevel !== undefined && /^\d+$/.test(groupLevel) && Number(groupLevel) > 0)) {
    throw new HttpError(400, 'query_parse_error', 'Invalid use of grouping on a map view.');
  }
}

/** A database's info as CouchDB 3.4 answers it (opaque sequences, no PouchDB fields). */
async function dbInfo(db: Database, dbName: string, fidelity: Fidelity, instance: string, createdAt: string): Promise<unknown> {
  const info = await db.info();
  return {
    // CouchDB 3.4: the second the database was created (one deleted and made again has a new one).
    instance_start_time: createdAt,
    db_name: dbName,
    purge_seq: fidelity.encodeSeq(dbName, 0, instance),
    update_seq: fidelity.encodeSeq(dbName, Number(info.update_seq), instance),
    sizes: { file: 0, external: 0, active: 0 },
    props: {},
    doc_del_count: 0,
    doc_count: info.doc_count,
    disk_format_version: 8,
    compact_running: false,
    cluster: { q: shardCount(dbName), n: 1, w: 1, r: 1 },
  };
}

/**
 * `COPY /{db}/{id}` with `Destination: {new id}[?rev=…]`: the document's body (and attachments) written under the new
 * id, answered `{ ok, id, rev }` as CouchDB does (express-pouchdb answered `{ ok }` alone).
 */
async function copyDoc(db: Database, id: string, rev: string | undefined, destination: string): Promise<{ ok: true; id: string; rev: string }> {
  const [rawId = '', destQuery = ''] = destination.split('?');
  let destId: string;
  try {
    destId = decodeURIComponent(rawId);
  } catch {
    throw badRequest('Destination header is mandatory for COPY.');
  }
  if (destId === '') throw badRequest('Destination header is mandatory for COPY.');
  const destRev = new URLSearchParams(destQuery).get('rev') ?? undefined;
  if (destRev !== undefined && !isRev(destRev)) throw badRequest('Invalid rev format');
  const source = (await db.get(id, { attachments: true, ...(rev === undefined ? {} : { rev }) })) as Record<string, unknown>;
  const { _id, _rev, _revisions, _conflicts, ...body } = source;
  const written = await db.put({ ...body, _id: destId, ...(destRev === undefined ? {} : { _rev: destRev }) } as never);
  return { ok: true, id: written.id, rev: written.rev };
}

async function exists(db: Database, id: string): Promise<'yes' | 'no' | 'deleted'> {
  try {
    await db.get(id);
    return 'yes';
  } catch (err) {
    return (err as { reason?: unknown }).reason === 'deleted' ? 'deleted' : 'no';
  }
}

/**
 * Serves the request when it is one of the emulator's own routes. `segments` are the decoded path segments
 * (`[db, …]`), `docPath` the `[docId, attachment]` of a document path.
 */
export async function serveOwnRoute(
  ctx: RouteContext,
  db: Database,
  req: Request,
  res: Response,
  segments: string[],
  docPath: [string, string | undefined] | undefined,
): Promise<boolean> {
  const { fidelity, local } = ctx;
  const [dbName = '', first] = segments;
  const query = req.query as Query;
  const method = req.method;

  if (first === '_temp_view') {
    sendJson(res, TEMP_VIEW_GONE.status, TEMP_VIEW_GONE.body);
    return true;
  }
  if (runsCode(segments)) {
    sendJson(res, NO_JAVASCRIPT.status, NO_JAVASCRIPT.body);
    return true;
  }
  const routeAllows = methodsOf(segments);
  if (routeAllows !== undefined && !acceptedMethods(routeAllows, segments.length === 1).includes(method)) throw methodNotAllowed(routeAllows);
  if (fidelity.strict && (method === 'GET' || method === 'HEAD') && first?.startsWith('_design/')) {
    designRedirect(req, res);
    return true;
  }
  // `GET /{db}/_design/<name>/_info` (chttpd_db:handle_design_info_req): the design document's view index. The
  // emulator builds no index: its figures are those of an index that is up to date and empty.
  if (first === '_design' && segments.length === 4 && segments[3] === '_info') {
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed('GET');
    const name = segments[2] as string;
    const ddoc = (await db.get(`_design/${name}`)) as { language?: unknown; views?: unknown; options?: unknown };
    const signature = createHash('md5').update(JSON.stringify([ddoc.language ?? null, ddoc.views ?? null, ddoc.options ?? null])).digest('hex');
    sendJson(res, 200, {
      name,
      view_index: {
        collator_versions: ['153.120'],
        compact_running: false,
        language: typeof ddoc.language === 'string' ? ddoc.language : 'javascript',
        purge_seq: 0,
        signature,
        sizes: { active: 0, external: 0, file: 0 },
        update_seq: 0,
        updater_running: false,
        updates_pending: { minimum: 0, preferred: 0, total: 0 },
        waiting_clients: 0,
        waiting_commit: false,
      },
    });
    return true;
  }
  // chttpd_db's document and attachment handlers answer other methods (PATCH, a plain OPTIONS) 405 with `Allow`.
  if (docPath !== undefined) {
    const allowed = docPath[1] === undefined ? 'DELETE,GET,HEAD,POST,PUT,COPY' : 'DELETE,GET,HEAD,PUT';
    if (!allowed.split(',').includes(method)) throw methodNotAllowed(allowed);
  }
  if (method === 'COPY') {
    const dest = String(req.headers.destination ?? '');
    if (decodeURIComponent(dest.replace(/%(?![0-9a-fA-F]{2})/g, '%25')).startsWith('_design/')) {
      sendJson(res, NO_JAVASCRIPT.status, NO_JAVASCRIPT.body);
      return true;
    }
  }
  if (method === 'COPY' && docPath !== undefined && docPath[1] === undefined) {
    const copied = await copyDoc(db, docPath[0], str(query.rev), String(req.headers.destination ?? ''));
    sendJson(res, 201, copied, { Location: locationOf(req, dbName, copied.id), ETag: `"${copied.rev}"` });
    return true;
  }
  // A DELETE's `If-Match` names the revision (chttpd_db:extract_header_rev; quotes stripped); express-pouchdb ignored
  // it and deleted whatever revision was current.
  const ifMatch = req.headers['if-match'];
  if (method === 'DELETE' && docPath !== undefined && typeof ifMatch === 'string') {
    const etag = ifMatch.replace(/^"+|"+$/g, '');
    if (!isRev(etag)) throw badRequest('Invalid rev format');
    const given = str(query.rev);
    if (given !== undefined && given !== etag) throw badRequest('Document rev and etag have different values');
    query.rev = etag;
  }
  // A revision that is not `N-hash` (couch_doc:parse_rev).
  const rev = str(query.rev);
  if (docPath !== undefined && rev !== undefined && !isRev(rev)) throw badRequest('Invalid rev format');
  if (first === '_design' && segments.length === 2 && (method === 'PUT' || method === 'DELETE')) {
    throw new HttpError(400, 'illegal_docid', 'Only reserved document ids may start with underscore.');
  }
  // couch_doc:validate_docid: `PUT /{db}/_design%2F` names a design document without a name.
  if (first === '_design/' && segments.length === 2 && method === 'PUT') throw new HttpError(400, 'illegal_docid', 'Illegal document id `_design/`');
  // chttpd_db:couch_doc_from_req: the body's `_rev` must agree with `?rev=` and `If-Match`; without one, either names it.
  const sent = req.body as Record<string, unknown> | undefined;
  if (method === 'PUT' && docPath?.[1] === undefined && docPath !== undefined && str(query.new_edits) !== 'false' && typeof sent === 'object' && sent !== null && !Array.isArray(sent)) {
    const etag = typeof ifMatch === 'string' ? ifMatch.replace(/^"+|"+$/g, '') : undefined;
    if (isRev(sent._rev)) {
      if (rev !== undefined && rev !== sent._rev) throw badRequest('Document rev from request body and query string have different values');
      if (etag !== undefined && etag !== sent._rev) throw badRequest('Document rev and etag have different values');
    } else if (sent._rev === undefined && etag !== undefined) {
      if (!isRev(etag)) throw badRequest('Invalid rev format');
      if (rev !== undefined && rev !== etag) throw badRequest('Document rev and etag have different values');
      sent._rev = etag;
    }
  }
  if (method === 'DELETE' && docPath?.[1] !== undefined) {
    const doc = (await db.get(docPath[0], rev === undefined ? {} : { rev })) as { _attachments?: Record<string, unknown> };
    if (!doc._attachments?.[docPath[1]]) throw new HttpError(404, 'not_found', 'Document is missing attachment');
  }
  // An attachment the document lacks (the document exists): CouchDB's reason (PouchDB's: "missing").
  if ((method === 'GET' || method === 'HEAD') && docPath?.[1] !== undefined && !docPath[0].startsWith('_local/')) {
    const doc = (await db.get(docPath[0], rev === undefined ? {} : { rev }).catch(() => undefined)) as { _attachments?: Record<string, { length?: unknown }> } | undefined;
    if (doc !== undefined && !doc._attachments?.[docPath[1]]) throw new HttpError(404, 'not_found', 'Document is missing attachment');
    const length = doc?._attachments?.[docPath[1]]?.length;
    if (typeof length === 'number') {
      if (unsatisfiableRange(req.headers.range, length)) throw new HttpError(416, 'requested_range_not_satisfiable', 'Requested range not satisfiable');
      // The emulator sends no part of an attachment (CouchDB none of one it stores gzip-encoded: text and JSON types).
      res.setHeader('Accept-Ranges', 'none');
      delete req.headers.range;
    }
  }
  // Both profiles: its sequence is the opaque one the feeds send.
  if (segments.length === 1 && (method === 'GET' || method === 'HEAD')) {
    sendJson(res, 200, await dbInfo(db, dbName, fidelity, ctx.instance(dbName), ctx.createdAt(dbName)));
    return true;
  }
  if (first === '_changes' && segments.length === 2) {
    if (method !== 'GET' && method !== 'POST' && method !== 'HEAD') throw methodNotAllowed('GET,POST,HEAD');
    // couch.ts took `If-None-Match` off the request (express would answer it by its own rules).
    await serveChanges(db, dbName, req, res, fidelity, ctx.instance(dbName), (res.locals as { ifNoneMatch?: string }).ifNoneMatch);
    return true;
  }
  if (first === '_bulk_get' && segments.length === 2) {
    if (method !== 'POST') throw methodNotAllowed('POST');
    sendJson(res, 200, await bulkGet(db, req.body, readOptions(query)));
    return true;
  }
  if (first === '_revs_diff' && segments.length === 2) {
    if (method !== 'POST') throw methodNotAllowed('POST');
    sendJson(res, 200, await revsDiff(db, req.body));
    return true;
  }
  if (first === '_local_docs' && segments.length === 2) {
    checkViewQuery(query, fidelity.strict);
    let options = allDocsOptions(query, true);
    if (method === 'POST') {
      const posted = req.body as unknown;
      if (typeof posted !== 'object' || posted === null || Array.isArray(posted)) throw badRequest('Request body must be a JSON object');
      if ((posted as Query).keys !== undefined && !Array.isArray((posted as Query).keys)) throw badRequest('`keys` body member must be an array.');
      options = { ...allDocsOptions(posted as Query, false), ...options };
    }
    sendJson(res, 200, await local.list(db, dbName, withDocIdRange(options) as LocalDocsOptions));
    return true;
  }
  if ((first === '_all_docs' || first === '_design_docs') && segments.length === 2) checkViewQuery(query, fidelity.strict);
  if (await serveDbExtras(ctx, db, dbName, req, res, segments)) return true;
  if (first === '_design_docs' && segments.length === 2) {
    const posted = method === 'POST' ? (req.body as { include_docs?: unknown } | undefined) : undefined;
    const includeDocs = str(query.include_docs) === 'true' || posted?.include_docs === true;
    const page = await db.allDocs({ startkey: '_design/', endkey: '_design0', inclusive_end: false, include_docs: includeDocs });
    sendJson(res, 200, { total_rows: page.rows.length, offset: 0, rows: page.rows });
    return true;
  }
  if (first === '_bulk_docs' && segments.length === 2) {
    if (method !== 'POST') throw methodNotAllowed('POST');
    const body = req.body as { all_or_nothing?: unknown; docs?: unknown } | undefined;
    if (body?.all_or_nothing !== true) {
      sendJson(res, 201, await bulkDocs(db, body, fidelity.strict, { docs: local, dbName, openedSeq: ctx.openedSeq(dbName) }));
      return true;
    }
    const docs = Array.isArray(body.docs) ? body.docs : [];
    sendJson(
      res,
      417,
      docs.map((d) => {
        const doc = (typeof d === 'object' && d !== null ? d : {}) as { _id?: unknown; _rev?: unknown };
        return { id: doc._id ?? null, rev: doc._rev ?? '0-', error: 'not_implemented', reason: 'all_or_nothing is not supported' };
      }),
    );
    return true;
  }

  if (docPath === undefined || docPath[1] !== undefined) return false;
  const [docId] = docPath;
  const openRevsParam = str(query.open_revs);
  if ((method === 'GET' || method === 'HEAD') && openRevsParam !== undefined) {
    // Multipart unless the client asks for JSON only (PouchDB and the SDK send `Accept: application/json`).
    if (!acceptsMultipartMixed(req.headers.accept)) {
      sendJson(res, 200, await openRevs(db, docId, parseOpenRevs(openRevsParam), readOptions(query)));
      return true;
    }
    const { contentType, body } = openRevsMultipart(await openRevs(db, docId, parseOpenRevs(openRevsParam), { ...readOptions(query), attachments: true }));
    res.status(200).setHeader('Content-Type', contentType);
    // Chunked, as CouchDB streams it.
    res.write(body);
    res.end();
    return true;
  }
  if (docId.startsWith('_local/')) {
    if (method === 'PUT') local.noteWritten(dbName, docId);
    if (!fidelity.strict) return false;
    if (method === 'PUT') {
      const body = req.body as unknown;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('Document must be a JSON object');
      // A deletion written by PUT: 200 and rev `0-0`, whether or not the document existed.
      if ((body as { _deleted?: unknown })._deleted === true) {
        sendJson(res, 200, await local.remove(db, dbName, docId, false));
        return true;
      }
      const named = '_rev' in body ? (body as { _rev?: unknown })._rev : str(query.rev);
      const written = await local.put(db, dbName, docId, body as Record<string, unknown>, named);
      sendJson(res, 201, written, { Location: locationOf(req, dbName, docId), ETag: docEtag({ ...body, _id: docId, _rev: written.rev }) });
      return true;
    }
    // CouchDB keeps no revisions of `_local` documents: a read naming one finds nothing, even the current one.
    if ((method === 'GET' || method === 'HEAD') && str(query.rev) !== undefined) throw new HttpError(404, 'not_found', 'missing');
    if (method === 'GET' || method === 'HEAD') {
      sendJson(res, 200, await local.get(db, docId, str(query.revs) === 'true'));
      return true;
    }
    if (method === 'DELETE') {
      sendJson(res, 200, await local.remove(db, dbName, docId));
      return true;
    }
    return false;
  }
  // The winner with its other leaves: `deleted_conflicts` (PouchDB has none), `meta`, and `conflicts` in CouchDB's order.
  const meta = str(query.meta) === 'true';
  const deletedConflicts = meta || str(query.deleted_conflicts) === 'true';
  const conflicts = meta || str(query.conflicts) === 'true';
  if ((method === 'GET' || method === 'HEAD') && rev === undefined && (deletedConflicts || (conflicts && fidelity.strict))) {
    const opts = { revs: str(query.revs) === 'true', revsInfo: meta || str(query.revs_info) === 'true', conflicts, deletedConflicts, attachments: str(query.attachments) === 'true' };
    sendJson(res, 200, await readWithMeta(db, docId, opts));
    return true;
  }
  // A replicated write of one document: CouchDB answers its revision (express-pouchdb answered PouchDB's `[]`).
  if (method === 'PUT' && str(query.new_edits) === 'false') {
    const body = req.body as Record<string, unknown>;
    const revisions = body._revisions as { start: number; ids: string[] } | undefined;
    const docRev = typeof body._rev === 'string' ? body._rev : revisions ? `${revisions.start}-${revisions.ids[0]}` : undefined;
    const [result] = (await db.bulkDocs([{ ...body, _id: docId } as never], { new_edits: false })) as unknown[];
    if (typeof result === 'object' && result !== null && 'error' in result) {
      const { status, body: error } = couchErrorOf(result);
      sendJson(res, status, error);
      return true;
    }
    sendJson(res, 201, { ok: true, id: docId, rev: docRev }, docRev === undefined ? {} : { ETag: `"${docRev}"` });
    return true;
  }
  if (!fidelity.strict) return false;
  // chttpd_db opens the document before deleting it: a deleted or missing one is a 404, whatever the revision.
  if (method === 'DELETE') {
    const state = await exists(db, docId);
    if (state !== 'yes') throw new HttpError(404, 'not_found', state === 'deleted' ? 'deleted' : 'missing');
  }
  // `?deleted=true`: the tombstone of a deleted document (its winning revision).
  if ((method === 'GET' || method === 'HEAD') && str(query.deleted) === 'true' && rev === undefined && (await exists(db, docId)) === 'deleted') {
    const row = (await db.allDocs({ keys: [docId] })).rows[0] as { value?: { rev?: string } } | undefined;
    const winner = row?.value?.rev;
    if (winner !== undefined) {
      const tombstone = await db.get(docId, { rev: winner, revs: str(query.revs) === 'true' });
      sendJson(res, 200, tombstone, { ETag: `"${winner}"` });
      return true;
    }
  }
  if (method === 'DELETE' && str(query.rev) === undefined && req.headers['if-match'] === undefined) {
    throw new HttpError(409, 'conflict', 'Document update conflict.');
  }
  // A revision that is not one of its leaves (unknown, or an older one): a conflict (PouchDB: 404 for an unknown one).
  if (method === 'DELETE' && rev !== undefined && !(await leafRevsInDocInfoOrder(db, docId)).includes(rev)) {
    throw new HttpError(409, 'conflict', 'Document update conflict.');
  }
  // CouchDB re-creates a deleted document only from a write that names no revision: one naming the deletion's (or any)
  // revision is a conflict, a value or a deletion alike (couch_db_updater:merge_rev_tree; PouchDB accepts it).
  if ((method === 'PUT' || method === 'DELETE') && (await exists(db, docId)) === 'deleted') {
    const body = req.body as Record<string, unknown> | undefined;
    const named = (method === 'PUT' ? body?._rev : undefined) ?? str(query.rev) ?? req.headers['if-match'];
    if (named !== undefined) throw new HttpError(409, 'conflict', 'Document update conflict.');
  }
  if (method === 'PUT') {
    const body = req.body as Record<string, unknown> | undefined;
    if (body?._deleted === true) {
      // CouchDB answers a deletion written by PUT with 200, not 201 (chttpd_db:update_doc).
      const status = res.status.bind(res);
      res.status = (code: number) => status(code === 201 ? 200 : code);
    }
    const rev = body?._rev ?? str(query.rev);
    if (body && typeof body === 'object' && !Array.isArray(body) && isRev(rev) && (await exists(db, docId)) === 'no') {
      // Checked against the stored documents first (validation-funs.ts): "old revs specified but none exist".
      const checked = await checkBeforeWrite(db, dbName, ctx.openedSeq(dbName), [{ ...body, _id: docId }]);
      if (await checked(docId)) throw new HttpError(409, 'conflict', 'Document update conflict.');
      sendJson(res, 201, await writeAtNextRev(db, docId, body, rev));
      return true;
    }
  }
  return false;
}
