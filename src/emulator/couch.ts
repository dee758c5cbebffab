/**
 * The CouchDB service: the seed's reverse proxy (body limit, `@newuser`/`@normal` routing, roles overwritten) and
 * CouchDB's own rules (proxy auth, require_valid_user, admin-only `_users` and server endpoints, per-user database
 * access, max_document_size) in front of express-pouchdb, which serves everything that passes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { posix } from 'node:path';
import express from 'express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { attachmentsRefusal, couchErrorOf, designDocRefusal, docEtag, HttpError, LocalDocs, methodNotAllowed, missingStubRefusal, nonHexRev, specialMemberRefusal } from './couch-docs.js';
import { attachmentLocationOf, locationOf, serveOwnRoute } from './couch-routes.js';
import type { RouteContext } from './couch-routes.js';
import { hasLoneSurrogate, hasNonFiniteNumber, isCouchJsonText, sleep } from './fidelity.js';
import type { Fidelity, LatencyKind } from './fidelity.js';
import { enableRegexFallback, holdsCode, NO_JAVASCRIPT } from './guard.js';
import { cors, etagsOf, nginxPage, sendJson, sendNginxError } from './http.js';
import { decodedBodyLimit, gunzipBody, hasBody, MAX_NESTING, nestingDepth, oversizeDocument, readBody } from './limits.js';
import { serveMango } from './mango.js';
import { authenticate, decodePath, DENIALS, nginxSignup, ROLES_HEADER, routeLikeNginx, TOKEN_HEADER, USERNAME_HEADER } from './proxy-auth.js';
import type { ProxyRoute, UserContext } from './proxy-auth.js';
import type { RequestLog } from './request-log.js';
import type { Storage } from './storage.js';
import { userDbName } from './tokens.js';
import type { Users } from './users.js';
import { USERS_DB } from './users.js';

const require = createRequire(import.meta.url);

export interface CouchContext {
  storage: Storage;
  users: Users;
  log: RequestLog;
  secret: () => string;
  maxDocumentBytes: number;
  maxRequestBytes: number;
  fidelity: Fidelity;
}

interface Locals {
  body: Buffer | undefined;
  route: ProxyRoute;
  user: UserContext;
  segments: string[];
  /** The documents a write carries (after the body checks), for checks that need the database. */
  writes?: { docs: unknown[]; newEdits: boolean };
  /** The request's `If-None-Match` (taken off the request: express would answer it by its own rules). */
  ifNoneMatch?: string | undefined;
}

const COUCH_VERSION = '3.4.3';
/** Server endpoints any authenticated user may call; every other `/_…` needs a server admin. */
const PUBLIC_SERVER_PATHS = new Set(['_session', '_up', '_uuids']);

const INVALID_UTF8_JSON = { error: 'bad_request', reason: 'invalid UTF-8 JSON' };

/** `/_node/{node}/…` endpoints for server admins and the `_metrics` role (another 401 reason). */
const METRICS_PATHS = new Set(['_stats', '_system', '_prometheus']);

/**
 * `/_replicate` is open to any authenticated user in CouchDB 3.4. The emulator runs no server-side replication: it
 * answers CouchDB's errors for a missing body or source, and 501 otherwise (clients replicate with PouchDB).
 */
function replicateAnswer(res: Response, body: Buffer | undefined): void {
  if (body === undefined || body.length === 0) return sendJson(res, 400, { error: 'bad_request', reason: 'Missing request body' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return sendJson(res, 400, INVALID_UTF8_JSON);
  }
  const source = (parsed as { source?: unknown } | null)?.source;
  if (typeof parsed !== 'object' || parsed === null || source === undefined) {
    return sendJson(res, 500, { error: 'error', reason: 'Missing replicator database' });
  }
  sendJson(res, 501, {
    error: 'not_implemented',
    reason: 'The emulator does not run server-side replications (_replicate); replicate from the client with PouchDB.',
  });
}

const locals = (res: Response) => res.locals as Locals;

/** CouchDB's 401s challenge for Basic auth (profile 'couchdb': a browser may prompt unless credentials are omitted). */
const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="server"' };

/** The cookie CouchDB's `_session` sends on a logout or a failed login: an empty `AuthSession`. */
function emptySessionCookie(): string {
  const expires = new Date(Date.now() + 600_000).toUTCString().replace(/^(\w+), (\d+) (\w+) (\d+)/, '$1, $2-$3-$4');
  return `AuthSession=; Version=1; Expires=${expires}; Max-Age=600; Path=/; HttpOnly`;
}

/**
 * `/_session` other than GET (couch_httpd_auth:handle_session_req): `DELETE` → `200 {"ok":true}`; a `POST` login —
 * which no proxy-made user can pass, having no password — → 401 "Name or password is incorrect." (400 without a name,
 * 415 for another body type); other methods → 405.
 */
function sessionAnswer(req: Request, res: Response, body: Buffer | undefined): void {
  const cookie = { 'Set-Cookie': emptySessionCookie(), 'Cache-Control': 'must-revalidate' };
  if (req.method === 'DELETE') return sendJson(res, 200, { ok: true }, cookie);
  if (req.method !== 'POST') {
    return sendJson(res, 405, { error: 'method_not_allowed', reason: 'Only GET,HEAD,POST,DELETE allowed' }, { Allow: 'GET,HEAD,POST,DELETE' });
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  let name: unknown;
  if (type === 'application/json') {
    try {
      name = (JSON.parse(body?.toString('utf8') ?? '') as { name?: unknown } | null)?.name;
    } catch {
      return sendJson(res, 400, INVALID_UTF8_JSON);
    }
  } else if (type === 'application/x-www-form-urlencoded') {
    name = new URLSearchParams(body?.toString('utf8') ?? '').get('name') ?? undefined;
  } else {
    return sendJson(res, 415, { error: 'bad_content_type', reason: "Content-Type must be 'application/x-www-form-urlencoded' or 'application/json'" });
  }
  if (name === undefined || name === null) return sendJson(res, 400, { error: 'bad_request', reason: 'request body must contain a username' });
  sendJson(res, 401, { error: 'unauthorized', reason: 'Name or password is incorrect.' }, cookie);
}

function deny(res: Response, denial: { status: number; body: unknown }, challenge = false): void {
  sendJson(res, denial.status, denial.body, challenge && denial.status === 401 ? BASIC_CHALLENGE : {});
}

/** nginx's `large_client_header_buffers 4 8k`: a longer request line → 414, a longer header line → 400. */
const NGINX_LINE_LIMIT = 8192;

function nginxLineRefusal(req: Request): 400 | 414 | 'header' | undefined {
  if (`${req.method} ${req.url} HTTP/1.1`.length > NGINX_LINE_LIMIT) return 414;
  // A NUL in the path (`%00`): nginx refuses it with 400 before CouchDB sees it.
  if (/%00/.test(req.url.split('?')[0] ?? '')) return 400;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).length + 2 + (raw[i + 1] as string).length > NGINX_LINE_LIMIT) return 'header';
  }
  return undefined;
}

function pouchError(res: Response, err: unknown): void {
  const { status, body } = couchErrorOf(err);
  sendJson(res, status, body, err instanceof HttpError ? err.headers : {});
}

/** Path segments of the raw path, each percent-decoded (so `%2F` stays inside its segment). */
function segmentsOf(rawPath: string): string[] {
  return rawPath
    .split('/')
    .filter((s) => s !== '')
    .map(decodePath);
}

/** `[docId, attachmentName]` for a document path below a database (`_design/x` and `_local/x` ids included). */
function documentPath(segments: string[]): [string, string | undefined] | undefined {
  const [, first, second, ...rest] = segments;
  if (first === undefined) return undefined;
  if (first === '_design' || first === '_local') {
    if (second === undefined) return undefined;
    const att = first === '_design' && rest.length > 0 ? rest.join('/') : undefined;
    return [`${first}/${second}`, att];
  }
  // `_local%2F{id}` and `_design%2F{name}` (the slash encoded) are the same documents (CouchDB answers a read of the
  // latter with a redirect: couch-routes.ts).
  if (first.startsWith('_local/') || (first.startsWith('_design/') && first.length > '_design/'.length)) {
    return [first, second === undefined ? undefined : [second, ...rest].join('/')];
  }
  if (first.startsWith('_')) return undefined;
  const att = second === undefined ? undefined : [second, ...rest].join('/');
  return [first, att];
}

let errorsPatched = false;
/**
 * express-pouchdb reports PouchDB errors with their generic `message`; CouchDB sends the specific reason
 * (`deleted` for a deleted document, `Document update conflict.` for 409). Patched once, in its utils module.
 */
function patchExpressPouchdbErrors(): void {
  if (errorsPatched) return;
  errorsPatched = true;
  const utils = require('express-pouchdb/lib/utils') as { sendError: (res: unknown, err: unknown, base?: number) => void };
  const original = utils.sendError;
  // chttpd answers JSON as `application/json` whatever the `Accept` (express-pouchdb: `text/plain` unless asked), and
  // `res.send` would add a weak ETag and answer `If-None-Match` by express's rules.
  const json = require('express-pouchdb/lib/utils') as { sendJSON: (res: Response, status: number, body: unknown) => void };
  json.sendJSON = (res, status, body) => {
    res.status(status);
    res.setHeader('Content-Type', 'application/json');
    res.end(Buffer.from(`${JSON.stringify(body)}\n`, 'utf8'));
  };
  utils.sendError = (res, err, base) => {
    if (typeof err === 'object' && err !== null && typeof (err as { name?: unknown }).name === 'string') {
      const { status, body } = couchErrorOf(err, base);
      return original(res, body, status);
    }
    original(res, err, base);
  };
}

/** True when a raw path's percent escapes spell valid UTF-8 (`%FF`, or `%C3` cut short, do not). */
function isUtf8Path(rawPath: string): boolean {
  try {
    decodeURIComponent(rawPath.replace(/%(?![0-9a-fA-F]{2})/g, '%25'));
    return true;
  } catch {
    return false;
  }
}

/** Database endpoints CouchDB refuses (415) unless the body is sent as `application/json`. */
const JSON_ONLY = new Set(['_bulk_docs', '_bulk_get', '_all_docs', '_revs_diff', '_find', '_explain', '_index', '_changes', '_missing_revs', '_purge', '_compact']);

/** couch_httpd:validate_ctype: the text before the first `;` is exactly `application/json` (case and spaces count). */
function isJsonType(req: Request): boolean {
  return /^application\/json(;|$)/.test(req.headers['content-type'] ?? '');
}

/** Which latency figure a request pays under the `'couchdb'` profile. */
function latencyKind(req: Request, segments: string[], route: ProxyRoute): LatencyKind {
  if (route.kind === 'newuser') return 'signup';
  const op = segments[1];
  if (op === '_bulk_docs' || op === '_bulk_get') return 'bulk';
  if (req.method === 'GET' || req.method === 'HEAD' || (op !== undefined && op.startsWith('_') && documentPath(segments) === undefined)) return 'read';
  return 'write';
}

/**
 * `?batch=ok` on a document write: CouchDB answers `202 {"ok":true,"id":…}` at once, with no revision, ETag or
 * Location. The emulator writes the document as usual and rewrites the 201 on its way out (an error stays as it is).
 */
function answerAsBatch(res: Response): void {
  const status = res.status.bind(res);
  // 201, or 200 for a deletion written by PUT.
  res.status = (code: number) => status(code === 201 || code === 200 ? 202 : code);
  const end = res.end.bind(res) as (...args: unknown[]) => Response;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (res.statusCode === 202 && chunk !== undefined && typeof chunk !== 'function' && !res.headersSent) {
      try {
        const written = JSON.parse(Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk)) as { ok?: unknown; id?: unknown };
        const text = `${JSON.stringify({ ok: true, id: written.id })}\n`;
        res.removeHeader('ETag');
        res.removeHeader('Location');
        res.setHeader('Content-Type', 'application/json');
        res.setHeader('Content-Length', Buffer.byteLength(text));
        return end(text);
      } catch {
        // not JSON: sent as it is
      }
    }
    return end(chunk, ...rest);
  }) as Response['end'];
}

/**
 * nginx's `proxy_buffer_size` (4 KB): a CouchDB answer whose header block does not fit is dropped, and the client gets
 * nginx's HTML 502 — although CouchDB did the work. It happens to a write of a document with a long id (≳ 3,700
 * ASCII characters): its 201 carries the whole URL in `Location`. The block is modelled as CouchDB sends it: the fixed
 * headers (status line, Cache-Control, Content-Type, Date, Server, X-Couch-Request-ID, X-CouchDB-Body-Time, the names
 * and line ends of the others: 277 bytes, measured), ETag, Content-Length, Location and the CORS headers.
 */
const NGINX_PROXY_BUFFER = 4096;
const COUCH_FIXED_HEADER_BYTES = 277;
const CORS_RESPONSE_HEADERS = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers', 'vary'];

function nginxUpstreamHeaderLimit(req: Request, res: Response, dbName: string, attachment: string | undefined): void {
  const end = res.end.bind(res) as (...args: unknown[]) => Response;
  // (Also writes the `Location` of a document write as CouchDB behind nginx does.)
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (res.statusCode === 201 && !res.headersSent && chunk !== undefined && typeof chunk !== 'function') {
      const text = Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk);
      let written: { id?: unknown; rev?: unknown } = {};
      try {
        written = JSON.parse(text) as typeof written;
      } catch {
        // not a write's answer
      }
      if (typeof written.id === 'string') {
        // chttpd_db:absolute_uri behind nginx: no port, and a `/` of the id escaped too (`_design%2Fname`); express-pouchdb
        // wrote its own port and the id's `/` as it is.
        const location = attachment === undefined ? locationOf(req, dbName, written.id) : attachmentLocationOf(req, dbName, written.id, attachment);
        if (res.getHeader('Location') !== undefined) res.setHeader('Location', location);
        // (An attachment upload's answer carries no ETag.)
        const etag = typeof written.rev === 'string' && attachment === undefined ? written.rev.length + 2 : 0;
        const cors = CORS_RESPONSE_HEADERS.reduce((n, name) => {
          const value = res.getHeader(name);
          return value === undefined ? n : n + name.length + 4 + String(value).length;
        }, 0);
        const size = COUCH_FIXED_HEADER_BYTES + etag + String(Buffer.byteLength(text)).length + location.length + cors;
        if (size > NGINX_PROXY_BUFFER) {
          for (const name of res.getHeaderNames()) res.removeHeader(name);
          res.statusCode = 502;
          res.setHeader('Content-Type', 'text/html');
          res.setHeader('Server', 'nginx');
          return end(nginxPage(502));
        }
      }
    }
    return end(chunk, ...rest);
  }) as Response['end'];
}

/** The flags of a document read (chttpd_db:parse_doc_query), each on only as `true`. */
const DOC_FLAGS = ['attachments', 'meta', 'revs', 'revs_info', 'conflicts', 'deleted', 'deleted_conflicts', 'latest', 'local_seq', 'att_encoding_info'];

/** Flags that add meta members, which chttpd_db sends only for the winner (a read without `rev`). */
const REV_READ_DROPS = ['meta', 'revs_info', 'conflicts', 'deleted_conflicts', 'local_seq'];

/** Members that make a document read carry no ETag (chttpd_db:send_doc: only a document without meta has one). */
const META_MEMBERS = ['_conflicts', '_deleted_conflicts', '_revs_info', '_local_seq'];

/** A document deletion's answer carries the tombstone's ETag (chttpd_db:update_doc_req); express-pouchdb sent none. */
function deletionEtag(res: Response): void {
  const end = res.end.bind(res) as (...args: unknown[]) => Response;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (res.statusCode === 200 && !res.headersSent && res.getHeader('ETag') === undefined && chunk !== undefined && typeof chunk !== 'function') {
      try {
        const { id, rev } = JSON.parse(Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk)) as { id?: unknown; rev?: unknown };
        if (typeof id === 'string' && typeof rev === 'string') res.setHeader('ETag', docEtag({ _id: id, _rev: rev }));
      } catch {
        // not JSON
      }
    }
    return end(chunk, ...rest);
  }) as Response['end'];
}

/**
 * Document reads (`GET`/`HEAD /{db}/{id}`, `_local` ones too): the ETag and `If-None-Match` as CouchDB answers them.
 * A 200 with `_id` and `_rev` and no meta member carries the document's ETag; `If-None-Match` naming it (couch_httpd:
 * etag_respond: {@link etagsOf}; `*` matches nothing)
 * → 304 with no body.
 */
function documentRead(res: Response, ifNoneMatch: string | undefined): void {
  const end = res.end.bind(res) as (...args: unknown[]) => Response;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (res.statusCode === 200 && !res.headersSent && chunk !== undefined && typeof chunk !== 'function' && /^application\/json/.test(String(res.getHeader('Content-Type') ?? ''))) {
      let doc: unknown;
      try {
        doc = JSON.parse(Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
      } catch {
        // not JSON
      }
      const d = doc as Record<string, unknown> | undefined;
      if (d && typeof d === 'object' && !Array.isArray(d) && typeof d._id === 'string' && typeof d._rev === 'string') {
        if (META_MEMBERS.some((m) => m in d)) res.removeHeader('ETag');
        else {
          const etag = docEtag(d);
          res.setHeader('ETag', etag);
          if (ifNoneMatch !== undefined && etagsOf(ifNoneMatch).includes(etag)) {
            res.statusCode = 304;
            for (const name of ['Content-Type', 'Content-Length', 'Cache-Control']) res.removeHeader(name);
            return end();
          }
        }
      }
    }
    return end(chunk, ...rest);
  }) as Response['end'];
}

/** A design document with JavaScript in it: text in a member that holds code (`views: 5` holds none). */
function holdsCodeText(doc: unknown): boolean {
  if (!holdsCode(doc)) return false;
  const text = (v: unknown, depth = 0): boolean => typeof v === 'string' || (depth < 8 && typeof v === 'object' && v !== null && Object.values(v).some((x) => text(x, depth + 1)));
  const d = doc as Record<string, unknown>;
  return ['views', 'filters', 'shows', 'lists', 'updates', 'validate_doc_update', 'rewrites'].some((m) => text(d[m]));
}

/** couch_db:validate_security_object: `admins` and `members` (or `readers`) objects whose `names` and `roles` are lists of strings. */
function validSecurityObject(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const b = body as Record<string, unknown>;
  const namesAndRoles = (v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) && ['names', 'roles'].every((k) => {
      const list = Object.hasOwn(v, k) ? (v as Record<string, unknown>)[k] : [];
      return Array.isArray(list) && list.every((x) => typeof x === 'string');
    });
  const members = Object.hasOwn(b, 'members') ? b.members : Object.hasOwn(b, 'readers') ? b.readers : {};
  return namesAndRoles(Object.hasOwn(b, 'admins') ? b.admins : {}) && namesAndRoles(members);
}

/** Wraps an async middleware: any rejection becomes a JSON error answer, never an unhandled rejection. */
function guarded(fn: (req: Request, res: Response, next: NextFunction) => Promise<void>): RequestHandler {
  return (req, res, next) => {
    fn(req, res, next).catch((err: unknown) => {
      if (res.headersSent) res.end();
      else pouchError(res, err);
    });
  };
}

export function createCouchApp(ctx: CouchContext): express.Express {
  patchExpressPouchdbErrors();
  enableRegexFallback();
  const { storage, users, log, fidelity } = ctx;
  const routes: RouteContext = {
    fidelity,
    local: new LocalDocs(),
    revsLimits: new Map(),
    applyRevsLimit: (dbName, limit) => storage.setRevsLimit(dbName, limit),
    openedSeq: (dbName) => storage.openedSeq(dbName),
    instance: (dbName) => storage.instance(dbName),
    createdAt: (dbName) => storage.createdAt(dbName),
  };
  const serverUuid = randomUUID().replace(/-/g, '');
  const securityObjects = new Map<string, unknown>();
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  app.use((req, res, next) => {
    log.observe('couch', req, res);
    // chttpd's headers on every answer (nginx's own pages remove them); `If-None-Match` is CouchDB's to answer, never
    // express's freshness check (which took `*` or its own weak ETags as a match).
    res.setHeader('Cache-Control', 'must-revalidate');
    res.setHeader('X-Couch-Request-ID', randomBytes(5).toString('hex'));
    res.setHeader('X-CouchDB-Body-Time', '0');
    locals(res).ifNoneMatch = req.headers['if-none-match'];
    delete req.headers['if-none-match'];
    delete req.headers['if-modified-since'];
    // nginx's merge_slashes (and chttpd's path split): `//{db}//{id}` is `/{db}/{id}`.
    const q = req.url.indexOf('?');
    const path = q === -1 ? req.url : req.url.slice(0, q);
    if (path.includes('//')) req.url = `${path.replace(/\/{2,}/g, '/')}${q === -1 ? '' : req.url.slice(q)}`;
    next();
  });
  // nginx (in front of everything): request and header line limits — both profiles: a deployment's limits, which an
  // app developed against the default profile meets too (a request line over 8 KB → 414).
  app.use((req, res, next) => {
    const refusal = nginxLineRefusal(req);
    if (refusal === undefined) return next();
    if (refusal === 'header') return sendNginxError(res, 400, 'Request Header Or Cookie Too Large');
    sendNginxError(res, refusal);
  });

  // nginx (both profiles): it answers TRACE itself, and refuses a path whose percent escapes it cannot decode.
  app.use((req, res, next) => {
    if (req.method === 'TRACE') return sendNginxError(res, 405);
    const q = req.url.indexOf('?');
    if (/%(?![0-9a-fA-F]{2})/.test(q === -1 ? req.url : req.url.slice(0, q))) return sendNginxError(res, 400);
    next();
  });

  app.use(cors({ strict: true }));


  // nginx: client_max_body_size, before anything else sees the body.
  app.use(
    guarded(async (req, res, next) => {
      locals(res).body = undefined;
      if (!hasBody(req)) return next();
      const result = await readBody(req, ctx.maxRequestBytes);
      if (!result.ok) {
        if (result.reason === 'too_large') sendNginxError(res, 413);
        return;
      }
      locals(res).body = result.body;
      next();
    }),
  );

  // nginx: location rules.
  app.use((req, res, next) => {
    // nginx matches its locations on the normalised URI (`/_users/x/../org.couchdb.user:me` is the own-account rule);
    // `@normal` proxies the request's URI as sent.
    const decoded = decodePath(req.path);
    // A `..` that climbs above the root: nginx refuses the URI with its 400 page (ngx_http_parse_complex_uri).
    if (climbsAboveRoot(decoded)) return sendNginxError(res, 400);
    const route = routeLikeNginx(req.method, posix.normalize(decoded), req.headers);
    if (route.kind === 'not_allowed') return sendNginxError(res, 405);
    locals(res).route = route;
    next();
  });

  // CouchDB: proxy authentication + require_valid_user.
  app.use((req, res, next) => {
    const user = authenticate(req.headers, ctx.secret(), locals(res).route);
    // Without a proxy user, CouchDB's default handler checks Basic credentials: nobody has a password here.
    if (!user && /^basic /i.test(req.headers.authorization ?? '')) return deny(res, DENIALS.wrongPassword, fidelity.strict);
    // A login (`POST /_session`) is answered without a user: 400 without a name, 415 for another body type, 401
    // "Name or password is incorrect." (no challenge) — not "Authentication required." (measured, 3.4.3).
    if (!user && req.method === 'POST' && /^\/_session\/?$/.test(req.path)) return sessionAnswer(req, res, locals(res).body);
    if (!user) return deny(res, DENIALS.authenticationRequired, fidelity.strict);
    locals(res).user = user;
    // CouchDB (mochiweb) reads a raw `+` in the path as a space.
    if (fidelity.strict && req.path.includes('+')) {
      const q = req.url.indexOf('?');
      const path = q === -1 ? req.url : req.url.slice(0, q);
      req.url = `${path.replace(/\+/g, '%20')}${q === -1 ? '' : req.url.slice(q)}`;
    }
    // `POST /{db}/` is `POST /{db}` (express-pouchdb took it for an attachment upload to the document "").
    if (req.method === 'POST' && /^\/[^/]+\/$/.test(req.path)) {
      const q = req.url.indexOf('?');
      req.url = `${req.path.slice(0, -1)}${q === -1 ? '' : req.url.slice(q)}`;
    }
    locals(res).segments = segmentsOf(req.path);
    const doc = documentPath(locals(res).segments);
    // chttpd_db:parse_doc_query takes only `true` for its flags (`?revs=yes` is no `revs`); PouchDB took any value.
    if (doc !== undefined && doc[1] === undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      const query = req.query as Record<string, unknown>;
      for (const flag of DOC_FLAGS) if (query[flag] !== undefined && query[flag] !== 'true') delete query[flag];
      // Without `open_revs`, CouchDB 3.4 reads `?rev=…&latest=true` as the winner, whatever the revision (measured: a
      // deleted leaf below it, another branch, an unknown one); a read of a named revision carries no meta members.
      if (query.rev !== undefined && query.open_revs === undefined && !doc[0].startsWith('_local/')) {
        if (query.latest === 'true') delete query.rev;
        else for (const flag of REV_READ_DROPS) delete query[flag];
        delete query.latest;
      }
    }
    const ifNoneMatch = locals(res).ifNoneMatch;
    if (doc !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      if (doc[1] === undefined) documentRead(res, ifNoneMatch);
      else {
        // An attachment's ETag (its digest) is compared by express-pouchdb: CouchDB's tokens, without `*`.
        const strong = etagsOf(ifNoneMatch ?? '').filter((t) => t !== '*');
        if (strong.length > 0) req.headers['if-none-match'] = strong.join(', ');
      }
    }
    next();
  });

  // chttpd's static handlers (after authentication, as every request): no Fauxton in the deployment's build, no favicon.
  app.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const favicon = req.path === '/favicon.ico';
    if (!favicon && !req.path.startsWith('/_utils/')) return next();
    res.removeHeader('X-Couch-Request-ID');
    res.removeHeader('X-CouchDB-Body-Time');
    res.status(404);
    res.setHeader('Cache-Control', favicon ? 'public, max-age=31536000' : 'private, must-revalidate');
    res.setHeader('Content-Type', 'text/plain');
    res.end('Not found.');
  });

  // The real server's time (profile 'couchdb').
  app.use(
    guarded(async (req, res, next) => {
      await sleep(fidelity.latency(latencyKind(req, locals(res).segments, locals(res).route)));
      next();
    }),
  );

  // @newuser: PUT /_users/org.couchdb.user:<name> with the proxy's body, as _admin.
  app.use(
    guarded(async (req, res, next) => {
      const route = locals(res).route;
      if (route.kind !== 'newuser') return next();
      if (req.method === 'OPTIONS') return void res.status(204).end();
      // A name nginx cannot carry into the URL or the JSON body it builds: CouchDB reads another request.
      const signup = nginxSignup(route.userName);
      // (The real stack never answers within 12 s: CouchDB holds the malformed request; nginx's proxy_read_timeout
      // ends it with a 504 after 60 s. The emulator answers that 504 at once.)
      if (signup.kind === 'no_answer') return sendNginxError(res, 504);
      if (signup.kind === 'refuse') return sendJson(res, signup.status, signup.body);
      const result = await users.create(signup.userName);
      sendJson(res, result.status, result.body);
    }),
  );

  // CouchDB: server endpoints and database access.
  app.use((req, res, next) => {
    const { user, segments } = locals(res);
    const [db] = segments;
    if (db === undefined) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return sendJson(res, 405, { error: 'method_not_allowed', reason: 'Only GET,HEAD allowed' }, { Allow: 'GET,HEAD' });
      }
      return sendJson(res, 200, {
        couchdb: 'Welcome',
        version: COUCH_VERSION,
        git_sha: 'emulator',
        uuid: serverUuid,
        features: ['access-ready', 'partitioned', 'pluggable-storage-engines', 'reshard', 'scheduler'],
        vendor: { name: 'The Apache Software Foundation' },
      });
    }
    if (db === USERS_DB || db === '_replicator') {
      // chttpd_auth_request: `_users/_all_docs`, `_users/_changes` and creating or deleting `_users` need a server
      // admin (401); everything else in it is the database's security check (403). `_replicator` the same.
      const [, part] = segments;
      const adminOnly = part === undefined ? req.method === 'PUT' || req.method === 'DELETE' : part === '_all_docs' || part === '_changes';
      return deny(res, adminOnly ? DENIALS.notServerAdmin : DENIALS.forbiddenDb, fidelity.strict);
    }
    if (db.startsWith('_')) {
      if (db === '_replicate') return replicateAnswer(res, locals(res).body);
      if (db === '_node' && segments.length >= 3 && METRICS_PATHS.has(segments[2] as string)) {
        return deny(res, DENIALS.notMetricsUser, fidelity.strict);
      }
      if (!PUBLIC_SERVER_PATHS.has(db)) return deny(res, DENIALS.notServerAdmin, fidelity.strict);
      // chttpd_misc: `_up` takes GET (and HEAD), `_uuids` GET (HEAD read as GET); others → 405 with `Allow`.
      if (db === '_up' && req.method !== 'GET' && req.method !== 'HEAD') return pouchError(res, methodNotAllowed('GET,HEAD'));
      if (db === '_uuids' && req.method !== 'GET' && req.method !== 'HEAD') return pouchError(res, methodNotAllowed('GET'));
      if (db === '_up') return sendJson(res, 200, { status: 'ok', seeds: {} });
      if (db === '_uuids') {
        // couch_httpd_misc_handlers:handle_uuids_req, `[uuids] max_count` 1000.
        const requested = typeof req.query.count === 'string' ? req.query.count : '1';
        if (!/^[+-]?\d+$/.test(requested) || Number(requested) < 0) return sendJson(res, 400, { error: 'bad_request', reason: 'count must be a positive integer' });
        if (Number(requested) > 1000) return sendJson(res, 400, { error: 'bad_request', reason: 'count parameter too large' });
        return sendJson(res, 200, { uuids: Array.from({ length: Number(requested) }, () => randomUUID().replace(/-/g, '')) });
      }
      if (db === '_session' && req.method !== 'GET' && req.method !== 'HEAD') return sessionAnswer(req, res, locals(res).body);
      if (req.method !== 'GET' && !(db === '_session' && req.method === 'HEAD')) {
        return sendJson(res, 405, { error: 'method_not_allowed', reason: 'Only GET allowed' });
      }
      return sendJson(res, 200, {
        ok: true,
        userCtx: { name: user.name, roles: user.roles },
        info: { authentication_handlers: ['cookie', 'proxy', 'default'], authenticated: 'proxy' },
      });
    }
    const isAdmin = user.roles.includes('_admin');
    // Purging needs a server admin (a database admin is not enough).
    if ((segments[1] === '_purge' || segments[1] === '_purged_infos_limit') && segments.length === 2 && !isAdmin) {
      return deny(res, DENIALS.notServerAdmin, fidelity.strict);
    }
    if (segments.length === 1 && (req.method === 'PUT' || req.method === 'DELETE') && !isAdmin) return deny(res, DENIALS.notServerAdmin, fidelity.strict);
    if (!storage.exists(db)) return deny(res, DENIALS.noDatabase);
    if (db !== userDbName(user.name) && !isAdmin) return deny(res, DENIALS.forbiddenDb);
    // couch_peruser creates the database admin-only and sets its members a moment later.
    if (!isAdmin && users.adminOnly(user.name)) return deny(res, DENIALS.forbiddenDb);
    next();
  });

  // CouchDB: content type, content encoding, UTF-8, max_document_size, no JavaScript; JSON bodies are parsed here once
  // (express-pouchdb's parser then skips them).
  app.use(
    guarded(async (req, res, next) => {
      const { segments } = locals(res);
      let { body } = locals(res);
      // chttpd_db: `_local` paths without a name, or with more than one (an attachment), whatever the method and body.
      if (fidelity.strict && (segments[1] === '_local' || segments[1] === '_local/')) {
        if (segments.length === 2) return sendJson(res, 400, { error: 'bad_request', reason: 'Invalid _local document id.' });
        if (segments[1] === '_local' && segments.length > 3) {
          return sendJson(res, 400, { error: 'bad_request', reason: '_local documents do not accept attachments.' });
        }
      }
      const doc = documentPath(segments);
      const isAttachment = req.method === 'PUT' && doc?.[1] !== undefined;
      // couch_doc:validate_docid: an id whose escapes are not UTF-8 (`%FF`) is refused on a write and found on no read
      // (express-pouchdb failed on it with a URIError).
      if (doc !== undefined && doc[1] === undefined && !isUtf8Path(req.path.split('/').filter((s) => s !== '').slice(1).join('/'))) {
        if (req.method === 'PUT') return sendJson(res, 400, { error: 'illegal_docid', reason: 'Document id must be valid UTF-8' });
        if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'DELETE') return sendJson(res, 404, { error: 'not_found', reason: 'missing' });
      }
      const [, op] = segments;
      const postsJson = req.method === 'POST' && (segments.length === 1 || (segments.length === 2 && op !== undefined && JSON_ONLY.has(op)) || (segments.length >= 3 && op === '_compact'));
      if (fidelity.strict && postsJson && !isJsonType(req)) {
        return sendJson(res, 415, { error: 'bad_content_type', reason: 'Content-Type must be application/json' });
      }
      if (/^multipart\//i.test(req.headers['content-type'] ?? '') && !isAttachment) {
        return sendJson(res, 415, { error: 'bad_content_type', reason: 'The emulator accepts documents as application/json only (no multipart).' });
      }
      const putsDoc = req.method === 'PUT' && doc !== undefined && !isAttachment;
      // chttpd:json_body decompresses a gzip body (nginx counted it compressed) and refuses other encodings; an
      // attachment's body is stored as sent.
      // CouchDB reads an empty `_changes` POST as no body at all; `_compact` reads no body at all.
      const needsBody = putsDoc || (postsJson && op !== '_changes' && op !== '_compact');
      const encoding = req.headers['content-encoding'];
      if ((body !== undefined || (fidelity.strict && needsBody)) && !isAttachment && encoding !== undefined && encoding !== 'identity') {
        if (encoding !== 'gzip') {
          if (fidelity.strict) return sendJson(res, 415, { error: 'bad_content_type', reason: `${encoding} is not a supported content encoding.` });
        } else {
          const decoded = await gunzipBody(body ?? Buffer.alloc(0), decodedBodyLimit(ctx.maxDocumentBytes, ctx.maxRequestBytes));
          if (!decoded.ok) {
            if (decoded.reason === 'not_gzip') return sendJson(res, 400, { error: 'bad_request', reason: 'Request body is not properly gzipped.' });
            // CouchDB's answer to a body over its max_http_request_size: the emulator's bound stands in for it.
            return sendJson(res, 413, { error: 'too_large', reason: 'the request entity is too large' });
          }
          body = decoded.body;
          locals(res).body = body;
          delete req.headers['content-encoding'];
        }
      }
      if (body === undefined || body.length === 0) {
        if (fidelity.strict && needsBody) return sendJson(res, 400, INVALID_UTF8_JSON);
        if (body === undefined) return next();
      }
      if (isAttachment || body === undefined) return next();
      if (fidelity.strict && !isCouchJsonText(body)) return sendJson(res, 400, INVALID_UTF8_JSON);
      let parsed: unknown;
      try {
        parsed = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      } catch {
        return sendJson(res, 400, INVALID_UTF8_JSON);
      }
      // A lone surrogate, or a number beyond a double's range (`1e400`: JSON.parse makes it Infinity, stored as null).
      if (fidelity.strict && (hasLoneSurrogate(parsed) || hasNonFiniteNumber(parsed))) return sendJson(res, 400, INVALID_UTF8_JSON);
      if (nestingDepth(parsed) > MAX_NESTING) {
        return sendJson(res, 400, { error: 'bad_request', reason: `The emulator stores no JSON nested more than ${MAX_NESTING} levels deep (CouchDB does).` });
      }
      const writesOneDoc = (segments.length === 1 && req.method === 'POST') || putsDoc;
      if (writesOneDoc && (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))) {
        return sendJson(res, 400, { error: 'bad_request', reason: 'Document must be a JSON object' });
      }
      // The `_id` the body was sent with (a `document_too_large` names it, `""` without one).
      const sentId = writesOneDoc ? (parsed as { _id?: unknown })._id : undefined;
      let docs: unknown[] = [];
      if (segments.length === 2 && op === '_bulk_docs' && req.method === 'POST') {
        const list = (parsed as { docs?: unknown } | null)?.docs;
        docs = Array.isArray(list) ? list : [];
      } else if (segments.length === 1 && req.method === 'POST') {
        // CouchDB's new id is a uuid of 32 lowercase hex digits (express-pouchdb's has dashes).
        const asObject = parsed as Record<string, unknown>;
        if (asObject._id === undefined) asObject._id = randomUUID().replace(/-/g, '');
        docs = [parsed];
      } else if (putsDoc) {
        // The id comes from the path (CouchDB reports it even when the body has none).
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
          const asObject = parsed as Record<string, unknown>;
          if (fidelity.strict) asObject._id = doc[0];
          docs = [fidelity.strict ? asObject : { ...asObject, _id: doc[0] }];
        } else docs = [parsed];
      }
      const newEdits = op === '_bulk_docs' ? (parsed as { new_edits?: unknown }).new_edits : req.query.new_edits === 'false' ? false : true;
      if (op === '_bulk_docs' && newEdits !== undefined && typeof newEdits !== 'boolean') {
        return sendJson(res, 400, { error: 'bad_request', reason: '`new_edits` parameter must be a boolean.' });
      }
      // CouchDB: an empty `_id` in `POST /{db}` (PouchDB would make up an id) or `_bulk_docs`, or one that is not a
      // string (`null` too), fails the request.
      if (fidelity.strict && !putsDoc) {
        for (const d of docs) {
          const id = (d as { _id?: unknown } | null)?._id;
          if (id === '') return sendJson(res, 400, { error: 'illegal_docid', reason: 'Document id must not be empty' });
          if (id !== undefined && typeof id !== 'string') return sendJson(res, 400, { error: 'illegal_docid', reason: 'Document id must be a string' });
        }
      }
      // couch_doc:parse_rev: a revision id of 32 characters is hex (a replicated `1-ggg…` is refused, not stored).
      if (fidelity.strict && docs.some((d) => nonHexRev((d as { _rev?: unknown } | null)?._rev))) {
        return sendJson(res, 400, { error: 'bad_request', reason: 'Invalid rev format' });
      }
      // couch_doc:validate_docid: a design or `_local` document without a name.
      const unnamed = segments.length === 1 && req.method === 'POST' ? ['_design/', '_local/'].find((id) => (parsed as { _id?: unknown })._id === id) : undefined;
      if (unnamed !== undefined) return sendJson(res, 400, { error: 'illegal_docid', reason: `Illegal document id \`${unnamed}\`` });
      for (const d of docs) {
        const special = specialMemberRefusal(d, newEdits !== false, op !== '_bulk_docs');
        const refusal = special ?? attachmentsRefusal(d);
        if (refusal) {
          const body = { error: refusal.name, reason: refusal.reason };
          // CouchDB's 500 for a `_revisions` of one document of a `_bulk_docs` is a list (for an attachment, not).
          return sendJson(res, refusal.status, refusal.status === 500 && op === '_bulk_docs' && special ? [body] : body);
        }
      }
      // CouchDB keeps no attachments on `_local` documents (it drops them; PouchDB never answered such a write).
      for (const d of [...docs, parsed] as { _id?: unknown; _attachments?: unknown }[]) {
        const id = d === parsed && putsDoc ? doc[0] : d?._id;
        if (typeof id === 'string' && id.startsWith('_local/') && d && typeof d === 'object') delete d._attachments;
      }
      // couch_mrview:validate: a design document's members of the wrong type (a document's own write; in a
      // `_bulk_docs` CouchDB answers it per document, which the emulator does not model).
      // Code the emulator will not run is refused as such (501) first, valid or not.
      const invalidDesign = writesOneDoc && !holdsCodeText(docs[0]) ? designDocRefusal(docs[0]) : undefined;
      if (invalidDesign) return sendJson(res, invalidDesign.status, { error: invalidDesign.name, reason: invalidDesign.reason });
      if (docs.some(holdsCode)) return sendJson(res, NO_JAVASCRIPT.status, NO_JAVASCRIPT.body);
      let tooLarge = oversizeDocument(docs, ctx.maxDocumentBytes);
      if (tooLarge !== undefined && fidelity.strict && writesOneDoc) tooLarge = typeof sentId === 'string' ? sentId : '';
      if (tooLarge !== undefined) return sendJson(res, 413, { error: 'document_too_large', reason: tooLarge });
      locals(res).writes = { docs, newEdits: newEdits !== false };
      const r = req as Request & { _body?: boolean };
      r.body = parsed;
      r._body = true;
      next();
    }),
  );

  // Handled here rather than by express-pouchdb: everything that runs code, crashes PouchDB or differs from CouchDB,
  // attachment uploads, _security, _find.
  app.use(
    guarded(async (req, res, next) => {
      const { segments, body } = locals(res);
      const [dbName, first] = segments;
      if (dbName === undefined) return next();
      const db = storage.db(dbName);
      const doc = documentPath(segments);
      const writesDoc = (req.method === 'POST' && segments.length === 1) || (req.method === 'PUT' && doc !== undefined && doc[1] === undefined);
      if (fidelity.strict && writesDoc && req.query.batch === 'ok') answerAsBatch(res);
      if (req.method === 'DELETE' && doc !== undefined && doc[1] === undefined) deletionEtag(res);
      const writesAttachment = req.method === 'PUT' && doc?.[1] !== undefined;
      if (fidelity.strict && (writesDoc || writesAttachment)) nginxUpstreamHeaderLimit(req, res, dbName, doc?.[1]);
      const writes = locals(res).writes;
      const stubRefusal = writes?.newEdits && (writesDoc || first === '_bulk_docs') ? await missingStubRefusal(db, writes.docs) : undefined;
      if (stubRefusal) return sendJson(res, stubRefusal.status, { error: stubRefusal.name, reason: stubRefusal.reason });
      if (await serveOwnRoute(routes, db, req, res, segments, doc)) return;
      if (first === '_security' && segments.length === 2) {
        if (req.method === 'PUT') {
          // couch_db:validate_security_object fails on every shard: the cluster's answer is `no_majority`.
          if (!validSecurityObject(req.body)) return sendJson(res, 500, { error: 'error', reason: 'no_majority' });
          securityObjects.set(dbName, req.body);
          return sendJson(res, 200, { ok: true });
        }
        // couch_peruser's: the user and server admins are members and admins.
        const names = { roles: ['_admin'], names: [locals(res).user.name] };
        return sendJson(res, 200, securityObjects.get(dbName) ?? { members: names, admins: names });
      }
      // (`_index/_design/<ddoc>/json/<name>`: the ddoc named with its prefix, as CouchDB takes it.)
      if ((first === '_find' || first === '_index' || first === '_explain') && segments.length <= (first === '_index' && segments[2] === '_design' ? 6 : 5)) {
        return serveMango(db, req, res, segments);
      }
      if (req.method === 'PUT' && doc?.[1] !== undefined) {
        const [docId, attachment] = doc as [string, string];
        if (attachment.startsWith('_')) return sendJson(res, 400, { error: 'bad_request', reason: `Attachment name '${attachment}' starts with prohibited character '_'` });
        const rev = typeof req.query.rev === 'string' ? req.query.rev : req.headers['if-match']?.replace(/"/g, '');
        // A revision the document does not have (or no document): CouchDB's 409 names it so.
        if (rev && !(await db.get(docId, { rev }).then(() => true, () => false))) return sendJson(res, 409, { error: 'not_found', reason: 'missing_rev' });
        const type = req.headers['content-type'] ?? 'application/octet-stream';
        const data = body ?? Buffer.alloc(0);
        const result = rev ? await db.putAttachment(docId, attachment, rev, data, type) : await db.putAttachment(docId, attachment, data, type);
        // chttpd_db answers an upload with its `Location`, and no ETag.
        return sendJson(res, 201, { ok: true, id: result.id, rev: result.rev }, { Location: attachmentLocationOf(req, dbName, docId, attachment) });
      }
      next();
    }),
  );

  // The proxy never forwards client credentials or roles to CouchDB.
  app.use((req, _res, next) => {
    delete req.headers[USERNAME_HEADER];
    delete req.headers[TOKEN_HEADER];
    delete req.headers[ROLES_HEADER];
    delete req.headers.authorization;
    delete req.headers.cookie;
    next();
  });

  const expressPouchdb = require('express-pouchdb') as (Pouch: unknown, options: unknown) => RequestHandler;
  app.use(
    expressPouchdb(storage.Pouch, {
      mode: 'minimumForPouchDB',
      inMemoryConfig: true,
      // compression would buffer streamed responses; CouchDB behind nginx does not compress either. Views and temporary
      // views would run JavaScript from the request (answered above instead).
      overrideMode: { exclude: ['compression', 'routes/temp-views', 'routes/views', 'routes/changes'] },
    }),
  );

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return void res.end();
    pouchError(res, err);
  });
  return app;
}

/** Whether a path's `..` segments climb above its root (`/../x`, `/a/../../x`). */
function climbsAboveRoot(path: string): boolean {
  let depth = 0;
  for (const segment of path.split('/')) {
    if (segment === '..') depth--;
    else if (segment !== '' && segment !== '.') depth++;
    if (depth < 0) return true;
  }
  return false;
}
