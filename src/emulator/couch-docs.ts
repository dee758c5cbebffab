/**
 * Document endpoints the emulator answers itself rather than through express-pouchdb, because PouchDB either crashes
 * the process on them (`open_revs` + `latest` with an unknown revision, an empty `_bulk_get`, `_revs_diff` with a
 * non-list) or answers differently from CouchDB 3.4 (leaf order, per-entry `_bulk_get` results and errors, `_local`
 * documents). Every function validates its input first and reports failures as {@link HttpError}.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Database } from './storage.js';
import { checkBeforeWrite } from './validation-funs.js';
import { slicesPerId } from '../util/slices.js';

/** An answer with a CouchDB error body (`{error, reason}`). `name` is the `error` member. */
export class HttpError extends Error {
  readonly status: number;
  readonly reason: string;
  /** Headers the answer carries (a 405's `Allow`). */
  readonly headers: Record<string, string>;
  constructor(status: number, error: string, reason: string, headers: Record<string, string> = {}) {
    super(reason);
    this.name = error;
    this.status = status;
    this.reason = reason;
    this.headers = headers;
  }
}

export const badRequest = (reason: string): HttpError => new HttpError(400, 'bad_request', reason);

/** chttpd:send_method_not_allowed: `405 "Only <methods> allowed"` with `Allow: <methods>`. */
export const methodNotAllowed = (allowed: string): HttpError => new HttpError(405, 'method_not_allowed', `Only ${allowed} allowed`, { Allow: allowed });

/** PouchDB's reasons for a bad document id, which CouchDB reports as `illegal_docid`. */
const ILLEGAL_ID = /underscore|_id field must contain a string|Document id must be/i;

/**
 * The status and `{error, reason}` CouchDB 3.4 sends for an error thrown by PouchDB or by the emulator: PouchDB's
 * generic texts become CouchDB's (`Document update conflict.`, `Bad special document member: _foo`, `illegal_docid`).
 */
export function couchErrorOf(err: unknown, fallbackStatus = 500): { status: number; body: { error: string; reason: string } } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { status?: unknown; name?: unknown; message?: unknown; reason?: unknown };
  let status = typeof e.status === 'number' ? e.status : fallbackStatus;
  let error = typeof e.name === 'string' ? e.name : 'unknown_error';
  let reason = typeof e.reason === 'string' ? e.reason : typeof e.message === 'string' ? e.message : String(err);
  if (error === 'conflict') reason = 'Document update conflict.';
  else if (error === 'doc_validation') {
    status = 400;
    if (reason.startsWith('_')) reason = `Bad special document member: ${reason}`;
  } else if (error === 'bad_request' && ILLEGAL_ID.test(reason)) error = 'illegal_docid';
  return { status, body: { error, reason } };
}

/**
 * The members starting with `_` that CouchDB 3.4 takes in a document body (couch_doc's `transfer_fields`); any other is
 * `400 doc_validation "Bad special document member: <name>"`. PouchDB's list adds `_rev_tree` and `_removed`.
 */
const COUCH_SPECIAL_MEMBERS = new Set([
  '_id',
  '_rev',
  '_access',
  '_attachments',
  '_deleted',
  '_revisions',
  '_revs_info',
  '_conflicts',
  '_deleted_conflicts',
  '_local_seq',
  '_replication_id',
  '_replication_state',
  '_replication_state_time',
  '_replication_state_reason',
  '_replication_stats',
]);

/**
 * CouchDB's checks of a document's special members (couch_doc's `transfer_fields`, chttpd_db's `validate_revs`) that
 * PouchDB lacks: a malformed `_revisions` written with `new_edits: false` was stored, and every later read of the
 * database threw inside PouchDB's adapter (an uncaught exception: the CLI exited). The answers are CouchDB's; `single`:
 * a document's own PUT or POST, not `_bulk_docs`.
 */
export function specialMemberRefusal(doc: unknown, newEdits: boolean, single: boolean): HttpError | undefined {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const d = doc as Record<string, unknown>;
  const invalid = (reason: string) => new HttpError(400, 'doc_validation', reason);
  // The first member CouchDB does not take, in the body's order (PouchDB stored `_removed` and took `_rev_tree` for its
  // own revision tree: a `_bulk_docs` with one threw outside any handler and was never answered).
  const bad = Object.keys(d).find((key) => key.startsWith('_') && (!COUCH_SPECIAL_MEMBERS.has(key) || (key === '_deleted' && typeof d._deleted !== 'boolean')));
  if (bad !== undefined) return invalid(`Bad special document member: ${bad}`);
  if ('_revisions' in d) {
    const revisions = d._revisions;
    if (typeof revisions !== 'object' || revisions === null || Array.isArray(revisions)) return invalid('Bad special document member: _revisions');
    const { start, ids } = revisions as { start?: unknown; ids?: unknown };
    if (!Number.isInteger(start)) return invalid("_revisions.start isn't an integer.");
    if (!Array.isArray(ids)) return invalid("_revisions.ids isn't a array.");
    if (!ids.every((id) => typeof id === 'string')) return invalid("RevId isn't a string");
    // CouchDB stores a start below 1 or more ids than the start (`-1-x`), which PouchDB cannot: refused here.
    if ((start as number) < 1 || ids.length > (start as number) || ids.includes('')) return new HttpError(500, 'unknown_error', 'badarg');
  }
  const noRevs = d._rev === undefined && d._revisions === undefined;
  const emptyRevs = (d._revisions as { ids?: unknown[] } | undefined)?.ids?.length === 0;
  // An empty `ids` list: a single document's PUT reads it as no revision (400); `_bulk_docs` fails with a 500.
  if (emptyRevs && !single) return new HttpError(500, 'error', 'internal_server_error');
  if (!newEdits && (noRevs || emptyRevs)) {
    return new HttpError(400, 'bad_request', 'When `new_edits: false`, the document needs `_rev` or `_revisions` specified');
  }
  return undefined;
}

/** Base64 as Erlang's `base64:decode` reads it (what CouchDB decodes inline attachment data with): padded, no stray characters. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * CouchDB's reading of a document's `_attachments` (couch_doc's `transfer_fields`, couch_att's `from_json`, chttpd_db's
 * `validate_attachment_names`), before PouchDB sees it: an entry with `follows: true` in a JSON body made PouchDB throw
 * asynchronously (pouchdb-md5 on undefined data: an uncaught TypeError, the database took no more writes and the CLI
 * exited), an entry that is not an object threw too, and an inline entry without `content_type` was stored but
 * every read of it failed. Normalises in place what CouchDB accepts (entries that are not objects are dropped, a
 * missing `content_type` is `application/octet-stream`) and returns CouchDB's refusal for the rest.
 */
export function attachmentsRefusal(doc: unknown): HttpError | undefined {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !('_attachments' in doc)) return undefined;
  const atts = (doc as { _attachments?: unknown })._attachments;
  if (typeof atts !== 'object' || atts === null || Array.isArray(atts)) return new HttpError(400, 'doc_validation', 'Bad special document member: _attachments');
  const entries = atts as Record<string, unknown>;
  let refusal: HttpError | undefined;
  for (const [name, att] of Object.entries(entries)) {
    // CouchDB's list comprehension skips members that are not objects.
    if (typeof att !== 'object' || att === null || Array.isArray(att)) {
      delete entries[name];
      continue;
    }
    const a = att as Record<string, unknown>;
    if (refusal || a.stub === true) continue;
    // A `follows` attachment belongs to a multipart body; in a JSON body CouchDB fails on it.
    if (a.follows === true) refusal = new HttpError(500, 'unknown_error', 'function_clause');
    else {
      // Erlang's decoder skips whitespace (PouchDB would take it too, but it is not kept).
      const data = typeof a.data === 'string' ? a.data.replace(/[ \t\r\n]/g, '') : undefined;
      if (data === undefined || !BASE64.test(data)) refusal = badRequest(`Invalid attachment data for ${name}`);
      else {
        a.data = data;
        if (a.content_type === undefined) a.content_type = 'application/octet-stream';
      }
    }
  }
  if (refusal) return refusal;
  // CouchDB keeps no empty `_attachments` member (PouchDB would).
  if (Object.keys(entries).length === 0) delete (doc as { _attachments?: unknown })._attachments;
  const prohibited = Object.keys(entries).find((name) => name.startsWith('_'));
  if (prohibited !== undefined) return badRequest(`Attachment name '${prohibited}' starts with prohibited character '_'`);
  // A content type that is not a string: CouchDB fails later, on writing it.
  const odd = Object.values(entries).some((a) => (a as { stub?: unknown }).stub !== true && 'content_type' in (a as object) && typeof (a as { content_type?: unknown }).content_type !== 'string');
  return odd ? new HttpError(500, 'unknown_error', 'function_clause') : undefined;
}

type Doc = Record<string, unknown> & { _id: string; _rev: string; _revisions?: { start: number; ids: string[] } };
type OpenRev = { ok: Doc } | { missing: string };

const REV = /^(\d{1,15})-([^\s]+)$/;

export function isRev(value: unknown): value is string {
  return typeof value === 'string' && REV.test(value) && !nonHexRev(value);
}

/**
 * A revision past position 0 whose id is 32 characters that are not hex: couch_doc:parse_revid decodes such an id
 * as hex and fails (`400 "Invalid rev format"`, measured on CouchDB 3.4.3 for `1-ggg…`); PouchDB stores it.
 */
export function nonHexRev(value: unknown): boolean {
  const m = typeof value === 'string' ? /^(\d+)-(.{32})$/s.exec(value) : null;
  return m !== null && Number(m[1]) !== 0 && !/^[0-9a-fA-F]{32}$/.test(m[2]!);
}

function revParts(rev: string): [number, string] {
  const m = REV.exec(rev);
  return m ? [Number(m[1]), m[2] as string] : [0, rev];
}

/** Ascending revision order (position, then hash), as CouchDB lists `open_revs=all`. */
function byRev(a: Doc, b: Doc): number {
  const [pa, ha] = revParts(a._rev);
  const [pb, hb] = revParts(b._rev);
  return pa - pb || (ha < hb ? -1 : ha > hb ? 1 : 0);
}

/** A leaf's path from the root of its revision tree, `[position of the root, hashes root first]`. */
function pathOf(leaf: Doc): [number, string[]] {
  const history = leaf._revisions;
  if (!history || history.ids.length === 0) {
    const [pos, hash] = revParts(leaf._rev);
    return [pos, [hash]];
  }
  return [history.start - history.ids.length + 1, [...history.ids].reverse()];
}

/**
 * The order `_bulk_get` lists a document's leaves in without a rev (measured; not `open_revs=all`'s): tree by tree, the
 * newest root first (position, then hash, descending); inside a tree depth first, branches in ascending hash order.
 */
function byTreeOrder(a: Doc, b: Doc): number {
  const [posA, pathA] = pathOf(a);
  const [posB, pathB] = pathOf(b);
  const [rootA, rootB] = [pathA[0] as string, pathB[0] as string];
  if (posA !== posB || rootA !== rootB) return posB - posA || (rootA < rootB ? 1 : -1);
  for (let i = 1; i < Math.min(pathA.length, pathB.length); i++) {
    if (pathA[i] !== pathB[i]) return (pathA[i] as string) < (pathB[i] as string) ? -1 : 1;
  }
  return pathA.length - pathB.length;
}

export interface ReadOptions {
  revs: boolean;
  latest: boolean;
  attachments: boolean;
}

function shape(doc: Doc, opts: ReadOptions): Doc {
  if (opts.revs) return doc;
  const { _revisions: _dropped, ...rest } = doc;
  return rest as Doc;
}

/** Every leaf of `id` with its revision history; `[]` when the document does not exist. */
async function leaves(db: Database, id: string, attachments: boolean): Promise<Doc[]> {
  // `_local` documents have no revision tree (CouchDB: `_revs_diff` finds none of their revisions, `_bulk_get` none of
  // them); PouchDB answers `open_revs` on one with the document itself.
  if (id.startsWith('_local/')) return [];
  let rows: unknown[];
  try {
    rows = (await db.get(id, { open_revs: 'all', revs: true, attachments } as never)) as unknown as unknown[];
  } catch (err) {
    if ((err as { status?: unknown }).status === 404) return [];
    throw err;
  }
  return rows.flatMap((r) => ((r as { ok?: Doc }).ok ? [(r as { ok: Doc }).ok] : []));
}

/**
 * The leaves of `id` in couch_doc's doc_info order (what `_changes?style=all_docs` lists): live ones first, each group by
 * revision, newest first — the winner comes first. `[]` when the document does not exist.
 */
export async function leafRevsInDocInfoOrder(db: Database, id: string): Promise<string[]> {
  const all = await leaves(db, id, false);
  return all.sort((a, b) => Number(a._deleted === true) - Number(b._deleted === true) || byRev(b, a)).map((l) => l._rev);
}

/** True when `rev` is in the history of `leaf` (the leaf itself included). */
function descends(leaf: Doc, rev: string): boolean {
  const [pos, hash] = revParts(rev);
  const history = leaf._revisions;
  if (!history) return leaf._rev === rev;
  const i = history.start - pos;
  return i >= 0 && history.ids[i] === hash;
}

/**
 * `GET /{db}/{id}?open_revs=…`: `'all'` lists the leaves in ascending order; a list answers its revisions (`latest`
 * resolves each to the leaves descending from it), unknown ones as `{missing}`, in CouchDB's order ({@link inReplyOrder}).
 */
export async function openRevs(
  db: Database,
  id: string,
  revs: 'all' | string[],
  opts: ReadOptions,
  /** A `_bulk_get`'s leaves read once per document (one asking for 300 revisions of one document read them 300 times). */
  cache?: Map<string, Promise<Doc[]>>,
): Promise<OpenRev[]> {
  if (revs === 'all') {
    const all = await leaves(db, id, opts.attachments);
    if (all.length === 0) throw new HttpError(404, 'not_found', 'missing');
    return all.sort(byRev).map((doc) => ({ ok: shape(doc, opts) }));
  }
  for (const rev of revs) if (!isRev(rev)) throw badRequest('Invalid rev format');
  const key = `${id}\u0000${String(opts.attachments)}`;
  const reading = cache?.get(key) ?? leaves(db, id, opts.attachments);
  cache?.set(key, reading);
  const all = await reading;
  const out: OpenRev[] = [];
  for (const rev of revs) {
    if (opts.latest) {
      // The leaves descending from it in ascending revision order, as CouchDB answers them.
      const found = all.filter((leaf) => descends(leaf, rev)).sort(byRev);
      if (found.length === 0) out.push({ missing: rev });
      for (const doc of found) out.push({ ok: shape(doc, opts) });
      continue;
    }
    const leaf = all.find((d) => d._rev === rev);
    if (leaf) {
      out.push({ ok: shape(leaf, opts) });
      continue;
    }
    if (id.startsWith('_local/')) {
      out.push({ missing: rev });
      continue;
    }
    try {
      const doc = (await db.get(id, { rev, revs: opts.revs, attachments: opts.attachments })) as unknown as Doc;
      out.push({ ok: doc });
    } catch {
      out.push({ missing: rev });
    }
  }
  return inReplyOrder(out);
}

/**
 * fabric_doc_open_revs answers a list of revisions sorted as Erlang terms, not in the request's order (measured): the
 * documents found first, ascending by revision (position, then id), then the missing revisions the same way; a revision
 * named twice is answered once.
 */
function inReplyOrder(out: OpenRev[]): OpenRev[] {
  const found = new Map<string, OpenRev & { ok: Doc }>();
  const missing = new Map<string, OpenRev & { missing: string }>();
  for (const o of out) {
    if ('ok' in o) {
      if (!found.has(o.ok._rev)) found.set(o.ok._rev, o);
    } else if (!missing.has(o.missing)) missing.set(o.missing, o);
  }
  const byParts = (x: string, y: string) => {
    const [px, hx] = revParts(x);
    const [py, hy] = revParts(y);
    return px - py || (hx < hy ? -1 : hx > hy ? 1 : 0);
  };
  return [...[...found.values()].sort((x, y) => byParts(x.ok._rev, y.ok._rev)), ...[...missing.values()].sort((x, y) => byParts(x.missing, y.missing))];
}

/** The meta members a document read can ask for (chttpd_db's `conflicts`, `deleted_conflicts`, `revs_info`, `meta`). */
export interface MetaOptions {
  revs: boolean;
  revsInfo: boolean;
  conflicts: boolean;
  deletedConflicts: boolean;
  attachments: boolean;
}

/**
 * `GET /{db}/{id}` with `conflicts`, `deleted_conflicts` or `meta` (PouchDB knows no `deleted_conflicts`, and lists
 * `_conflicts` in its own order): the winner as CouchDB's couch_doc:to_json_obj writes it — `_id`, `_rev`, the body,
 * `_deleted`, `_revisions`, then the meta members (`_revs_info`, `_conflicts`, `_deleted_conflicts`) and
 * `_attachments`. The other leaves come in couch_db:doc_meta_info's order (doc_info: by revision, newest first):
 * live ones in `_conflicts`, deleted ones in `_deleted_conflicts`; a member with no revision is left out.
 */
export async function readWithMeta(db: Database, id: string, opts: MetaOptions): Promise<Record<string, unknown>> {
  const winner = (await db.get(id, { revs: opts.revs, revs_info: opts.revsInfo, attachments: opts.attachments } as never)) as unknown as Doc;
  const others = (await leaves(db, id, false)).filter((l) => l._rev !== winner._rev).sort((a, b) => byRev(b, a));
  const live = others.filter((l) => l._deleted !== true).map((l) => l._rev);
  const deleted = others.filter((l) => l._deleted === true).map((l) => l._rev);
  const { _id, _rev, _deleted, _revisions, _revs_info, _conflicts, _attachments, ...body } = winner as Record<string, unknown>;
  return {
    _id,
    _rev,
    ...body,
    ...(_deleted === true ? { _deleted } : {}),
    ...(opts.revs && _revisions !== undefined ? { _revisions } : {}),
    ...(opts.revsInfo && _revs_info !== undefined ? { _revs_info } : {}),
    ...(opts.conflicts && live.length > 0 ? { _conflicts: live } : {}),
    ...(opts.deletedConflicts && deleted.length > 0 ? { _deleted_conflicts: deleted } : {}),
    ...(_attachments !== undefined ? { _attachments } : {}),
  };
}

/**
 * mochiweb's `accepts_content_type("multipart/mixed")`: no `Accept` is `*\/*`; a type (or `multipart/*`, `*\/*`) with a
 * q above 0 accepts it, unless `multipart/mixed` or `multipart/*` is listed with q=0.
 */
export function acceptsMultipartMixed(accept: string | undefined): boolean {
  const entries = (accept ?? '*/*').split(',').map((entry) => {
    const [type = '', ...params] = entry.split(';').map((p) => p.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    return { type, q: q === undefined ? 1 : Number(q.slice(2)) };
  });
  const refused = entries.some((e) => (e.type === 'multipart/mixed' || e.type === 'multipart/*') && e.q === 0);
  return !refused && entries.some((e) => e.q > 0 && (e.type === '*/*' || e.type === 'multipart/*' || e.type === 'multipart/mixed'));
}

/**
 * An `open_revs` answer as chttpd_db:send_docs_multipart writes it for a client that accepts `multipart/mixed`: one
 * part per revision — the document as `application/json`, or as `multipart/related` (its JSON, then each attachment,
 * marked `follows`) when it has attachments; a missing revision as `application/json; error="true"`. The documents
 * must have been read with their attachments' data.
 */
export function openRevsMultipart(answers: OpenRev[]): { contentType: string; body: Buffer } {
  const outer = randomBytes(16).toString('hex');
  const parts: Buffer[] = [Buffer.from(`--${outer}`)];
  for (const answer of answers) {
    if ('missing' in answer) {
      parts.push(Buffer.from(`\r\nContent-Type: application/json; error="true"\r\n\r\n${JSON.stringify(answer)}\r\n--${outer}`));
      continue;
    }
    const atts = Object.entries((answer.ok._attachments ?? {}) as Record<string, Record<string, unknown>>).filter(([, a]) => typeof a.data === 'string');
    // couch_doc:to_json_obj's order: `_id` and `_rev` first.
    const { _id, _rev, ...body } = answer.ok;
    const doc = { _id, _rev, ...body };
    if (atts.length === 0) {
      parts.push(Buffer.from(`\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(doc)}\r\n--${outer}`));
      continue;
    }
    const inner = randomBytes(16).toString('hex');
    const data = new Map(atts.map(([name, a]) => [name, Buffer.from(a.data as string, 'base64')]));
    const stubs: Record<string, unknown> = {};
    for (const [name, a] of Object.entries(answer.ok._attachments as Record<string, Record<string, unknown>>)) {
      const bytes = data.get(name);
      // (Defined, not assigned: an attachment named `__proto__` is an attachment.)
      Object.defineProperty(stubs, name, { value: bytes === undefined ? a : { content_type: a.content_type, revpos: a.revpos, digest: a.digest, length: bytes.length, follows: true }, enumerable: true });
    }
    parts.push(Buffer.from(`\r\nContent-Type: multipart/related; boundary="${inner}"\r\n\r\n`));
    parts.push(Buffer.from(`--${inner}\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ ...doc, _attachments: stubs })}\r\n--${inner}`));
    for (const [name, a] of atts) {
      const bytes = data.get(name) as Buffer;
      parts.push(Buffer.from(`\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Type: ${String(a.content_type)}\r\nContent-Length: ${bytes.length}\r\n\r\n`));
      parts.push(bytes, Buffer.from(`\r\n--${inner}`));
    }
    parts.push(Buffer.from(`--\r\n--${outer}`));
  }
  parts.push(Buffer.from('--'));
  return { contentType: `multipart/mixed; boundary="${outer}"`, body: Buffer.concat(parts as unknown as readonly Uint8Array[]) };
}

/** Parses the `open_revs` query parameter like CouchDB (`all` or a JSON list). */
export function parseOpenRevs(raw: string): 'all' | string[] {
  if (raw === 'all') return 'all';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw badRequest('invalid UTF-8 JSON');
  }
  // couch_doc:parse_revs: a value that is not a list; then each revision (parse_rev).
  if (!Array.isArray(parsed)) throw badRequest('Invalid list of revisions');
  return parsed.map((r) => {
    if (!isRev(r)) throw badRequest('Invalid rev format');
    return r;
  });
}

/**
 * couch_doc's `atts_since`: attachments whose `revpos` is past the newest of `since` found in the document's history
 * keep their data; the others become stubs. `doc` was read with its history and attachment data.
 */
function stubsSince(doc: Doc, since: string[]): Doc {
  const atts = doc._attachments as Record<string, Record<string, unknown>> | undefined;
  if (!atts) return doc;
  const known = since.filter((r) => descends(doc, r)).map((r) => revParts(r)[0]);
  const pos = known.length === 0 ? 0 : Math.max(...known);
  const out: Record<string, unknown> = {};
  for (const [name, att] of Object.entries(atts)) {
    if (typeof att.revpos === 'number' && att.revpos > pos) out[name] = att;
    else {
      const length = typeof att.data === 'string' ? Buffer.from(att.data, 'base64').length : att.length;
      out[name] = { content_type: att.content_type, revpos: att.revpos, digest: att.digest, length, stub: true };
    }
  }
  return { ...doc, _attachments: out };
}

type BulkGetDoc = { ok: Doc } | { error: { id: unknown; rev: unknown; error: string; reason: string } };

/** `POST /{db}/_bulk_get`: one result per request entry, in order, each with its own documents or errors. */
export async function bulkGet(db: Database, body: unknown, opts: ReadOptions): Promise<{ results: { id: unknown; docs: BulkGetDoc[] }[] }> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('Request body must be a JSON object');
  const docs = (body as { docs?: unknown }).docs;
  if (docs === undefined) throw badRequest("Missing JSON list of 'docs'.");
  // chttpd_db:bulk_get_parse_args maps over `docs` and couch_db:validate_docid takes only a string: a `docs` that is no
  // list, or an entry whose `id` is no string (`null` too), fails the whole request before anything is read.
  const entries = (Array.isArray(docs) ? docs : []) as unknown[];
  const idOf = (entry: unknown) => (typeof entry === 'object' && entry !== null && !Array.isArray(entry) && Object.hasOwn(entry, 'id') ? (entry as { id: unknown }).id : undefined);
  if (!Array.isArray(docs) || entries.some((entry) => idOf(entry) !== undefined && typeof idOf(entry) !== 'string')) {
    throw new HttpError(500, 'unknown_error', 'function_clause');
  }
  const results: { id: unknown; docs: BulkGetDoc[] }[] = [];
  const read = new Map<string, Promise<Doc[]>>();
  for (const entry of entries) {
    // (Members in CouchDB's order for these errors.)
    const fail = (id: unknown, rev: unknown, error: string, reason: string) => results.push({ id, docs: [{ error: { rev, reason, id, error } }] });
    // An empty object is no document either (`{[_ | _] = Props}`).
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || Object.keys(entry).length === 0) {
      fail(null, null, 'bad_request', 'document must be a JSON object');
      continue;
    }
    const { id, rev, atts_since: attsSince } = entry as { id?: string; rev?: unknown; atts_since?: unknown };
    if (id === undefined) {
      fail(null, null, 'bad_request', 'document id missed');
      continue;
    }
    const illegal = id === '' ? 'Document id must not be empty' : id === '_design/' || id === '_local/' ? `Illegal document id \`${id}\`` : /^_(?!design\/|local\/)/.test(id) ? 'Only reserved document ids may start with underscore.' : undefined;
    if (illegal !== undefined) {
      fail(id, null, 'illegal_docid', illegal);
      continue;
    }
    if (rev !== undefined && !isRev(rev)) {
      fail(id, rev, 'bad_request', 'Invalid rev format');
      continue;
    }
    // `atts_since` (parse_field): a list of revisions, each parsed; anything else is refused with the value as `rev`.
    if (attsSince !== undefined && !Array.isArray(attsSince)) {
      fail(id, attsSince, 'bad_request', 'att_since value must be array of revs.');
      continue;
    }
    const badSince = Array.isArray(attsSince) ? attsSince.find((r) => !isRev(r)) : undefined;
    if (badSince !== undefined) {
      fail(id, badSince, 'bad_request', 'Invalid rev format');
      continue;
    }
    // `atts_since`: the attachments added after the newest of those revisions the document has come inline.
    const since = Array.isArray(attsSince) && attsSince.length > 0 ? (attsSince as string[]) : undefined;
    const entryOpts = since === undefined ? opts : { ...opts, revs: true, attachments: true };
    const send = (doc: Doc): Doc => shape(since === undefined ? doc : stubsSince(doc, since), opts);
    if (rev === undefined) {
      const all = await leaves(db, id, entryOpts.attachments);
      if (all.length === 0) {
        fail(id, 'undefined', 'not_found', 'missing');
        continue;
      }
      results.push({ id, docs: all.sort(byTreeOrder).map((doc) => ({ ok: send(doc) })) });
      continue;
    }
    const answers = await openRevs(db, id, [rev], entryOpts, read);
    results.push({
      id,
      docs: answers.map((a): BulkGetDoc => ('ok' in a ? { ok: send(a.ok) } : { error: { id, rev: a.missing, error: 'not_found', reason: 'missing' } })),
    });
  }
  return { results };
}

/**
 * `POST /{db}/_bulk_docs`: per-document errors with CouchDB's texts; `all_or_nothing` is refused by the caller.
 * `strict` (the couchdb profile): an interactive write that names a revision of a document whose winner is deleted is
 * a conflict, as in CouchDB (it re-creates a deleted document only from a write without `_rev`).
 */
export async function bulkDocs(db: Database, body: unknown, strict = false, local?: BatchContext): Promise<unknown[]> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('Request body must be a JSON object');
  const { docs, new_edits } = body as { docs?: unknown; new_edits?: unknown };
  if (docs === undefined) throw badRequest('POST body must include `docs` parameter.');
  if (!Array.isArray(docs)) throw badRequest('`docs` parameter must be an array.');
  if (!docs.every((d) => typeof d === 'object' && d !== null && !Array.isArray(d))) throw badRequest('Document must be a JSON object');
  const all = docs as Record<string, unknown>[];
  validateBulkEntries(all);
  // Whether CouchDB checks a new document naming a `_rev` against the stored ones (a conflict) or writes it: decided
  // once for the request, before any of it is written (validation-funs.ts).
  const checked = strict && new_edits !== false && local ? await checkBeforeWrite(db, local.dbName, local.openedSeq ?? 0, all) : undefined;
  const rounds = new_edits === false ? [all.map((_, i) => i)] : roundsById(all);
  if (rounds.length === 1) return writeBatch(db, all, new_edits, strict, local, checked);
  // One id named more than once: CouchDB's updater applies a document's edits one after the other, each against the
  // revision tree the earlier ones left (a second edit of the same revision is a conflict, and leaves nothing). PouchDB
  // checks them so too, but keeps the refused edit's revision in the tree it stores (a phantom leaf: `_conflicts`
  // naming the winner itself, replications failing). Each round is one PouchDB write; the answers keep the request's order.
  const results: unknown[] = new Array(all.length);
  for (const round of rounds) {
    const written = await writeBatch(db, round.map((i) => all[i]!), new_edits, strict, local, checked);
    for (const [j, i] of round.entries()) results[i] = written[j];
  }
  return results;
}

/**
 * chttpd_db's `_bulk_docs` reads every entry (couch_doc:from_json_obj_validate) before it writes any: an id CouchDB
 * reserves or a `_rev` that is not a revision fails the whole request, and nothing is written. The emulator writes some
 * entries itself before PouchDB sees the rest (an unknown `_rev` of a new document, `_local` documents, the rounds of an
 * id named twice), so the checks PouchDB would make on the batch are made here first, in the request's order.
 */
function validateBulkEntries(docs: Record<string, unknown>[]): void {
  for (const d of docs) {
    const id = d._id;
    if (typeof id === 'string' && id.startsWith('_') && !/^_(design|local)\//.test(id)) {
      throw new HttpError(400, 'illegal_docid', 'Only reserved document ids may start with underscore.');
    }
    const rev = d._rev;
    if (typeof rev === 'string' && !/^\d+-/.test(rev)) throw badRequest('Invalid rev format');
  }
}

/**
 * The positions of `docs` in rounds: the first occurrence of every id, then the second ones, and so on (a document
 * without a string `_id` gets a new id: the first round).
 */
function roundsById(docs: Record<string, unknown>[]): number[][] {
  const rounds: number[][] = [];
  const seen = new Map<string, number>();
  for (const [i, d] of docs.entries()) {
    const round = typeof d._id === 'string' ? (seen.get(d._id) ?? 0) : 0;
    if (typeof d._id === 'string') seen.set(d._id, round + 1);
    (rounds[round] ??= []).push(i);
  }
  return rounds.length === 0 ? [[]] : rounds;
}

/** One PouchDB write of `docs` (no id twice when `new_edits` is true), with the couchdb profile's own rules. */
/** What `_bulk_docs` needs of the database beyond its handle: its `_local` documents, name and opening sequence. */
export interface BatchContext {
  docs: LocalDocs;
  dbName: string;
  /** The update sequence when the emulator opened the database (storage.ts). */
  openedSeq?: number;
}

async function writeBatch(db: Database, docs: Record<string, unknown>[], new_edits: unknown, strict: boolean, local?: BatchContext, checked?: (id: string) => Promise<boolean>): Promise<unknown[]> {
  // `_local` documents (the couchdb profile): written as CouchDB writes them, without revision checks — the sent
  // revision + 1 (`0-1` without one), also with `new_edits: false`, whose answer lists only failures.
  const localResults = new Map<number, unknown>();
  if (strict && local) {
    for (const [i, d] of (docs as Record<string, unknown>[]).entries()) {
      const id = d._id;
      if (typeof id !== 'string' || !id.startsWith('_local/')) continue;
      try {
        const result = d._deleted === true ? await local.docs.remove(db, local.dbName, id, false) : await local.docs.put(db, local.dbName, id, d, d._rev);
        localResults.set(i, new_edits === false ? undefined : result);
      } catch (err) {
        const { body: failure } = couchErrorOf(err);
        localResults.set(i, { id, ...failure });
      }
    }
  }
  const conflicts = new Set<number>();
  // couch_mrview:validate of each design document (a refused one is that document's answer; the others are written).
  const refused = new Map<number, unknown>();
  if (new_edits !== false) {
    for (const [i, d] of docs.entries()) {
      const refusal = designDocRefusal(d);
      if (refusal) refused.set(i, { id: d._id, error: true, name: refusal.name, reason: refusal.reason, status: refusal.status });
    }
  }
  /**
   * Documents naming a revision of an id that never existed: CouchDB writes them at the next position unless it checks
   * them against the stored documents first (then a conflict: validation-funs.ts).
   */
  const unknownRevs = new Map<number, unknown>();
  if (strict && new_edits !== false) {
    const named = (docs as { _id?: unknown; _rev?: unknown }[]).flatMap((d, i) => (typeof d._id === 'string' && d._rev !== undefined && !refused.has(i) ? [{ i, id: d._id, rev: d._rev }] : []));
    if (named.length > 0) {
      const rows = (await db.allDocs({ keys: named.map((n) => n.id) })).rows as { value?: { deleted?: boolean }; error?: unknown }[];
      const fresh = new Set<string>();
      for (const [j, n] of named.entries()) {
        const row = rows[j];
        if (row?.value?.deleted === true) conflicts.add(n.i);
        else if (row?.error === 'not_found' && isRev(n.rev) && !n.id.startsWith('_local/') && !fresh.has(n.id)) {
          fresh.add(n.id);
          if (checked && (await checked(n.id))) {
            conflicts.add(n.i);
            continue;
          }
          unknownRevs.set(n.i, await writeAtNextRev(db, n.id, docs[n.i] as Record<string, unknown>, n.rev));
        }
      }
    }
  }
  const toWrite = (docs as never[]).filter((_, i) => !conflicts.has(i) && !unknownRevs.has(i) && !localResults.has(i) && !refused.has(i));
  const written = toWrite.length === 0 && localResults.size > 0 ? [] : new_edits === false ? await replicated(db, toWrite) : ((await db.bulkDocs(toWrite, {})) as unknown[]);
  let next = 0;
  const results =
    conflicts.size === 0 && unknownRevs.size === 0 && localResults.size === 0 && refused.size === 0
      ? written
      : (docs as { _id?: unknown }[]).flatMap((d, i) => {
          if (localResults.has(i)) {
            const r = localResults.get(i);
            return r === undefined ? [] : [r];
          }
          if (refused.has(i)) return [refused.get(i)];
          if (conflicts.has(i)) return [{ id: d._id, error: true, name: 'conflict', status: 409 }];
          if (unknownRevs.has(i)) return [unknownRevs.get(i)];
          // `new_edits: false`: PouchDB answers only its failures, not one entry per document.
          return new_edits === false ? [] : [written[next++]];
        });
  if (new_edits === false && localResults.size > 0) results.push(...written);
  return results.map((r) => {
    const info = r as { error?: unknown; id?: unknown };
    if (!info.error) return r;
    return { id: info.id, ...couchErrorOf(r).body };
  });
}

/**
 * Writes `docs` with `new_edits: false`, a bounded number of revisions of one id per PouchDB call (util/slices.ts):
 * PouchDB writes the revisions of one id in a call by synchronous callbacks, and 1,500 branches of one document
 * (CouchDB takes them) overflowed the stack inside its adapter — a RangeError no handler saw, the request never
 * answered and the database wedged. Answers the failures only, as PouchDB does.
 */
async function replicated(db: Database, docs: never[]): Promise<unknown[]> {
  const failures: unknown[] = [];
  for (const slice of slicesPerId(docs as { _id?: string }[])) failures.push(...((await db.bulkDocs(slice as never[], { new_edits: false })) as unknown[]));
  return failures;
}

/**
 * CouchDB accepts a new document whose `_rev` names an unknown revision (a value or a deletion) when it does not check
 * the write first (validation-funs.ts): it writes it at the next position, as a child of that revision. PouchDB
 * answers a conflict.
 */
export async function writeAtNextRev(db: Database, id: string, doc: Record<string, unknown>, rev: string): Promise<{ ok: true; id: string; rev: string }> {
  const [pos, hash] = revParts(rev);
  const nextHash = randomBytes(16).toString('hex');
  const start = pos + 1;
  const { _revisions: _ignored, ...body } = doc;
  const written = { ...body, _id: id, _rev: `${start}-${nextHash}`, _revisions: { start, ids: [nextHash, hash] } };
  await db.bulkDocs([written as never], { new_edits: false });
  return { ok: true, id, rev: written._rev };
}

/** `POST /{db}/_revs_diff`: the body is `{id: [rev, …]}`; anything else fails like CouchDB (400 or 500). */
export async function revsDiff(db: Database, body: unknown): Promise<unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('Request body must be a JSON object');
  const clean: Record<string, string[]> = {};
  const locals: string[] = [];
  for (const [id, revs] of Object.entries(body)) {
    if (!Array.isArray(revs) || !revs.every((r) => typeof r === 'string')) throw new HttpError(500, 'unknown_error', 'function_clause');
    if (!revs.every(isRev)) throw badRequest('Invalid rev format');
    if (id.startsWith('_local/')) locals.push(id);
    else Object.defineProperty(clean, id, { value: revs, enumerable: true });
  }
  const diff = (await db.revsDiff(clean)) as Record<string, { missing: string[]; possible_ancestors?: string[] }>;
  // couch_db:possible_ancestors/2: the leaves older than the newest missing revision, in doc_info order (live ones
  // first, then by revision, newest first). PouchDB names none.
  for (const [id, entry] of Object.entries(diff)) {
    delete entry.possible_ancestors;
    const all = await leaves(db, id, false);
    // A revision the tree has without its body (an ancestor a replicated history named) is not missing to CouchDB
    // (couch_key_tree:find_missing); PouchDB lists it.
    const known = new Set(all.flatMap((leaf) => (leaf._revisions ? leaf._revisions.ids.map((hash, i) => `${leaf._revisions!.start - i}-${hash}`) : [leaf._rev])));
    entry.missing = entry.missing.filter((r) => !known.has(r));
    if (entry.missing.length === 0) {
      delete diff[id];
      continue;
    }
    const newest = Math.max(...entry.missing.map((r) => revParts(r)[0]));
    const older = all
      .filter((leaf) => revParts(leaf._rev)[0] < newest)
      .sort((a, b) => Number(a._deleted === true) - Number(b._deleted === true) || byRev(b, a))
      .map((leaf) => leaf._rev);
    if (older.length > 0) entry.possible_ancestors = older;
  }
  // A `_local` id: every revision is missing (in the request's order of ids).
  if (locals.length === 0) return diff;
  const ordered: Record<string, unknown> = {};
  for (const [id, revs] of Object.entries(body as Record<string, string[]>)) {
    const entry = id.startsWith('_local/') ? { missing: [...new Set(revs)] } : diff[id];
    if (entry !== undefined && (entry as { missing: string[] }).missing.length > 0) Object.defineProperty(ordered, id, { value: entry, enumerable: true });
  }
  return ordered;
}

/** The `_all_docs` options `_local_docs` takes (as `allDocsOptions` in couch-routes.ts reads them). */
export interface LocalDocsOptions {
  keys?: unknown;
  key?: unknown;
  startkey?: unknown;
  endkey?: unknown;
  inclusive_end?: unknown;
  descending?: unknown;
  include_docs?: unknown;
  skip?: number;
  limit?: number;
}

/**
 * A document's ETag as CouchDB makes it (couch_httpd:doc_etag): `"<rev>"`; for a `_local` document a hash of its
 * revision and body (CouchDB's: base 36 of an MD5 of the Erlang term — the emulator's differs in value, not in use).
 */
export function docEtag(doc: Record<string, unknown>): string {
  if (!String(doc._id).startsWith('_local/')) return `"${String(doc._rev)}"`;
  const { _id, _rev, ...body } = doc;
  return hashEtag([_rev, body]);
}

/** An ETag as couch_httpd:make_etag writes one: `"<base 36 of an MD5, upper case>"` (of JSON here, not an Erlang term). */
export function hashEtag(value: unknown): string {
  const hex = createHash('md5').update(JSON.stringify(value)).digest('hex');
  return `"${BigInt(`0x${hex}`).toString(36).toUpperCase()}"`;
}

/** Where a `_local` document keeps the revision CouchDB would give it (PouchDB's own counts its writes). */
const LOCAL_REV = 'feat-emulator:local-rev';

/** A stored `_local` document as CouchDB answers it: `_id`, `_rev` (the emulator's), then the body. */
function localShape(stored: Record<string, unknown>): Record<string, unknown> {
  const { _id, _rev, [LOCAL_REV]: rev, ...rest } = stored;
  return { _id, _rev: typeof rev === 'string' ? rev : _rev, ...rest };
}

/**
 * `_local` documents the way CouchDB keeps them (under the `'couchdb'` profile): no revision checks — a write with no
 * or a stale `_rev` overwrites, a delete needs no rev — and listed by `GET /{db}/_local_docs`.
 */
export class LocalDocs {
  /** Ids of the `_local` documents written through the emulator, per database (PouchDB cannot list them). */
  readonly #ids = new Map<string, Set<string>>();

  #set(dbName: string): Set<string> {
    let set = this.#ids.get(dbName);
    if (!set) {
      set = new Set();
      this.#ids.set(dbName, set);
    }
    return set;
  }

  noteWritten(dbName: string, id: string): void {
    this.#set(dbName).add(id);
  }

  noteDeleted(dbName: string, id: string): void {
    this.#ids.get(dbName)?.delete(id);
  }

  async #current(db: Database, id: string): Promise<string | undefined> {
    try {
      return (await db.get(id))._rev;
    } catch {
      return undefined;
    }
  }

  /**
   * Overwrites `_local/…` whatever is stored (couch_db_updater:increment_local_doc_revs): the new revision is the sent
   * one + 1 (`0-1` when none is sent). `rev` is the `_rev` the request names (body member, else `?rev=`; `undefined`
   * for none): not a revision (`"garbage"`, `""`, `null`, a number) → 400 "Invalid rev format"; one not of the form
   * `0-<integer>` → 500 with the same reason. PouchDB keeps its own counter: the emulator's is stored beside it.
   */
  async put(db: Database, dbName: string, id: string, body: Record<string, unknown>, rev: unknown): Promise<{ ok: true; id: string; rev: string }> {
    let next = 1;
    if (rev !== undefined) {
      const m = typeof rev === 'string' ? /^([^-]*)-(.*)$/s.exec(rev) : null;
      if (!m || !/^[+-]?\d+$/.test(m[1]!)) throw badRequest('Invalid rev format');
      if (Number(m[1]) !== 0 || !/^[+-]?\d+$/.test(m[2]!)) throw new HttpError(500, 'error', 'Invalid rev format');
      next = Number(m[2]) + 1;
    }
    const stored = await this.#current(db, id);
    const doc: Record<string, unknown> = { ...body, _id: id, [LOCAL_REV]: `0-${next}` };
    delete doc._attachments;
    if (stored === undefined) delete doc._rev;
    else doc._rev = stored;
    await db.put(doc as never);
    this.noteWritten(dbName, id);
    return { ok: true, id, rev: `0-${next}` };
  }

  /**
   * `GET /{db}/_local/…`: the document with the emulator's revision; 404 missing when there is none. `revs`: with
   * `_revisions` `{start: 0, ids: ["<n>"]}` (its one revision `0-<n>`), as CouchDB answers `?revs=true`.
   */
  async get(db: Database, id: string, revs = false): Promise<Record<string, unknown>> {
    let doc: Record<string, unknown>;
    try {
      doc = (await db.get(id)) as Record<string, unknown>;
    } catch {
      throw new HttpError(404, 'not_found', 'missing');
    }
    const shaped = localShape(doc);
    return revs ? { ...shaped, _revisions: { start: 0, ids: [String(shaped._rev).slice(2)] } } : shaped;
  }

  /** Deletes `_local/…` without a revision; `mustExist: false` (a PUT with `_deleted: true`) succeeds on none. */
  async remove(db: Database, dbName: string, id: string, mustExist = true): Promise<{ ok: true; id: string; rev: string }> {
    const rev = await this.#current(db, id);
    if (rev === undefined && mustExist) throw new HttpError(404, 'not_found', 'missing');
    if (rev !== undefined) await db.remove(id, rev);
    this.noteDeleted(dbName, id);
    return { ok: true, id, rev: '0-0' };
  }

  /**
   * `GET`/`POST /{db}/_local_docs` (CouchDB: `total_rows` and `offset` are null) with `_all_docs`' options: `keys` (a
   * missing one → `{key, error: "not_found"}`, one not `_local/…` left out), or the range `startkey`/`endkey`/`key` (`inclusive_end`,
   * `descending`), then `skip` and `limit`.
   */
  async list(db: Database, dbName: string, options: LocalDocsOptions): Promise<unknown> {
    const row = async (id: string): Promise<unknown> => {
      try {
        const doc = localShape((await db.get(id)) as Record<string, unknown>);
        return { id, key: id, value: { rev: doc._rev }, ...(options.include_docs === true ? { doc } : {}) };
      } catch {
        this.noteDeleted(dbName, id);
        return undefined;
      }
    };
    const skip = options.skip ?? 0;
    const end = options.limit === undefined ? undefined : skip + options.limit;
    const descending = options.descending === true;
    if (Array.isArray(options.keys)) {
      // fabric_view_all_docs: the keys (reversed when descending), skipped and limited, then those not `_local/…` dropped.
      const keys = (descending ? [...(options.keys as unknown[])].reverse() : (options.keys as unknown[])).slice(skip, end);
      const rows = [];
      for (const key of keys) if (typeof key === 'string' && key.startsWith('_local/')) rows.push((await row(key)) ?? { key, error: 'not_found' });
      return { total_rows: null, offset: null, rows };
    }
    const [low, high] = descending ? [options.endkey, options.startkey] : [options.startkey, options.endkey];
    const inclusiveEnd = options.inclusive_end !== false;
    const inRange = (id: string) => {
      if (options.key !== undefined) return id === options.key;
      if (typeof low === 'string' && (id < low || (descending && !inclusiveEnd && id === low))) return false;
      if (typeof high === 'string' && (id > high || (!descending && !inclusiveEnd && id === high))) return false;
      return true;
    };
    const ids = [...(this.#ids.get(dbName) ?? [])].filter(inRange).sort();
    if (descending) ids.reverse();
    const rows: unknown[] = [];
    for (const id of ids) {
      const r = await row(id);
      if (r !== undefined) rows.push(r);
      if (end !== undefined && rows.length >= end) break;
    }
    return { total_rows: null, offset: null, rows: rows.slice(skip) };
  }
}

/**
 * CouchDB's refusal of an attachment stub the document's revision lacks (couch_doc:merge_stubs): `412 missing_stub
 * "Invalid attachment stub in <id> for <name>"`, naming the first such stub of the first such document. PouchDB
 * answered `unknown stub attachment with digest undefined`. Only interactive writes (`new_edits` true) are checked,
 * and only where CouchDB reaches that check: a document naming a revision that is one of its leaves, or naming none
 * while it does not exist (or is deleted); anything else is left to the write (a conflict comes first). Stubs the
 * revision has get its digest when they name none (PouchDB needs it).
 */
export async function missingStubRefusal(db: Database, docs: unknown[]): Promise<HttpError | undefined> {
  for (const d of docs) {
    if (typeof d !== 'object' || d === null || Array.isArray(d)) continue;
    const { _id: id, _rev: rev, _attachments: atts } = d as { _id?: unknown; _rev?: unknown; _attachments?: unknown };
    if (typeof id !== 'string' || id.startsWith('_local/') || typeof atts !== 'object' || atts === null) continue;
    const stubs = Object.entries(atts as Record<string, unknown>).flatMap(([name, a]) =>
      typeof a === 'object' && a !== null && (a as { stub?: unknown }).stub === true ? [name] : [],
    );
    if (stubs.length === 0) continue;
    let onDisk: Record<string, unknown> | undefined;
    if (rev === undefined) {
      const state = await db.get(id).then(
        () => 'live',
        (err: unknown) => ((err as { status?: unknown }).status === 404 ? 'absent' : 'other'),
      );
      if (state !== 'absent') continue;
      onDisk = {};
    } else {
      if (!isRev(rev)) continue;
      const leaf = (await leaves(db, id, false)).find((l) => l._rev === rev);
      if (!leaf) continue;
      onDisk = (leaf._attachments ?? {}) as Record<string, unknown>;
    }
    const missing = stubs.find((name) => !Object.prototype.hasOwnProperty.call(onDisk, name));
    if (missing !== undefined) return new HttpError(412, 'missing_stub', `Invalid attachment stub in ${id} for ${missing}`);
    // CouchDB finds a stub's attachment by its name; PouchDB by its digest (a bare `{"stub": true}` → 412): the
    // revision's own metadata is filled in.
    for (const name of stubs) {
      const entry = (atts as Record<string, Record<string, unknown>>)[name]!;
      const disk = onDisk[name] as Record<string, unknown>;
      if (typeof entry.digest !== 'string') Object.assign(entry, { content_type: disk.content_type, digest: disk.digest, length: disk.length, revpos: disk.revpos }, entry);
    }
  }
  return undefined;
}

type DdocType = 'object' | 'string' | 'array' | 'boolean';
/** couch_mrview:validate_ddoc_fields' paths, in its order (`*` = every member). */
const DDOC_FIELDS: [string, DdocType[]][][] = [
  [['filters', ['object']], ['*', ['object', 'string']]],
  [['language', ['string']]],
  [['lists', ['object']], ['*', ['object', 'string']]],
  [['options', ['object']]],
  [['options', ['object']], ['include_design', ['boolean']]],
  [['options', ['object']], ['local_seq', ['boolean']]],
  [['options', ['object']], ['partitioned', ['boolean']]],
  [['rewrites', ['string', 'array']]],
  [['shows', ['object']], ['*', ['object', 'string']]],
  [['updates', ['object']], ['*', ['object', 'string']]],
  [['validate_doc_update', ['string']]],
  [['views', ['object']], ['lib', ['object']]],
  [['views', ['object']], ['*', ['object']], ['map', ['MAP' as DdocType]]],
  [['views', ['object']], ['*', ['object']], ['reduce', ['string']]],
];

function hasDdocType(value: unknown, type: DdocType): boolean {
  if (type === 'object') return typeof value === 'object' && value !== null && !Array.isArray(value);
  if (type === 'array') return Array.isArray(value);
  return typeof value === type;
}

/**
 * couch_mrview:validate for a design document written (not a deletion): a member of the wrong type →
 * `400 invalid_design_doc "`<path>` field must have <type> type"` (`views.v.map` is an object for `language: "query"`,
 * else a string), a view without `map` → "View `<name>` must contain map function", `options.partitioned: true` →
 * refused in a database that is not partitioned (every per-user database). Undefined for a valid one.
 */
export function designDocRefusal(doc: unknown): HttpError | undefined {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const d = doc as Record<string, unknown>;
  if (typeof d._id !== 'string' || !d._id.startsWith('_design/') || d._deleted === true) return undefined;
  const mapType: DdocType = d.language === 'query' ? 'object' : 'string';
  const refuse = (path: string[], types: DdocType[]) =>
    new HttpError(400, 'invalid_design_doc', `\`${path.join('.')}\` field must have ${types.map((t) => ((t as string) === 'MAP' ? mapType : t)).join(' or ')} type`);
  const walk = (value: unknown, steps: [string, DdocType[]][], path: string[]): HttpError | undefined => {
    if (steps.length === 0 || value === undefined) return undefined;
    const [[name, types], ...rest] = steps as [[string, DdocType[]], ...[string, DdocType[]][]];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const members = value as Record<string, unknown>;
    for (const key of name === '*' ? Object.keys(members) : [name]) {
      const member = Object.hasOwn(members, key) ? members[key] : undefined;
      if (member === undefined) continue;
      if (!types.some((t) => hasDdocType(member, (t as string) === 'MAP' ? mapType : t))) return refuse([...path, key], types);
      const deeper = walk(member, rest, [...path, key]);
      if (deeper) return deeper;
    }
    return undefined;
  };
  for (const steps of DDOC_FIELDS) {
    const refusal = walk(d, steps, []);
    if (refusal) return refusal;
  }
  if (typeof d.views === 'object' && d.views !== null) {
    for (const [name, view] of Object.entries(d.views as Record<string, unknown>)) {
      if (name !== 'lib' && (view as { map?: unknown }).map === undefined) return new HttpError(400, 'invalid_design_doc', `View \`${name}\` must contain map function`);
    }
  }
  if ((d.options as { partitioned?: unknown } | undefined)?.partitioned === true) {
    return new HttpError(400, 'invalid_design_doc', 'partitioned option cannot be true in a non-partitioned database.');
  }
  return undefined;
}
