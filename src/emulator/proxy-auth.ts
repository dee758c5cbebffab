/**
 * The deployment's front door, as pure functions: the seed's nginx location rules (which request becomes an
 * `@newuser` account creation) and CouchDB's proxy authentication (`proxy_use_secret = true`, `require_valid_user`).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { verifyProxyToken } from './tokens.js';

export const USERNAME_HEADER = 'x-auth-couchdb-username';
export const TOKEN_HEADER = 'x-auth-couchdb-token';
export const ROLES_HEADER = 'x-auth-couchdb-roles';

export type ProxyRoute =
  /** `location @normal`: proxied with `X-Auth-CouchDB-Roles: ""`. */
  | { kind: 'normal' }
  /** `location @newuser`: becomes `PUT /_users/org.couchdb.user:<header user>` with the fixed body and role `_admin`. */
  | { kind: 'newuser'; userName: string }
  /** `return 405` (nginx HTML page). */
  | { kind: 'not_allowed' };

// nginx: `location ~ /_users/org.couchdb.user:(?<username>.+)` — unanchored, and the dots match any character.
const USER_DOC_LOCATION = /\/_users\/org.couchdb.user:(.+)/;
const CREATE_NEW_USER_LOCATION = '/_users/create-new-user';

/**
 * A header value as CouchDB sees it: raw bytes read as UTF-8 (Node hands header bytes over as Latin-1). ASCII names are
 * unchanged; a client sends a non-ASCII user name as its UTF-8 bytes.
 */
function header(headers: IncomingHttpHeaders, name: string): string {
  const raw = headers[name];
  const value = Array.isArray(raw) ? (raw[0] ?? '') : (raw ?? '');
  if (!/[\u0080-\u00ff]/.test(value)) return value;
  const utf8 = Buffer.from(value, 'latin1').toString('utf8');
  return utf8.includes('\ufffd') ? value : utf8;
}

/** Decodes a path as nginx normalises `$uri` (percent-decoding; invalid escapes are kept). */
export function decodePath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    return rawPath;
  }
}

/** Which of the seed's nginx locations handles the request (`decodedPath` without the query string). */
export function routeLikeNginx(method: string, decodedPath: string, headers: IncomingHttpHeaders): ProxyRoute {
  const headerUser = header(headers, USERNAME_HEADER);
  const userDoc = USER_DOC_LOCATION.exec(decodedPath);
  if (userDoc) {
    if (headerUser !== userDoc[1] || method !== 'PUT') return { kind: 'normal' };
    return { kind: 'newuser', userName: headerUser };
  }
  if (decodedPath.startsWith(CREATE_NEW_USER_LOCATION)) {
    if (!/(POST|OPTIONS)/i.test(method)) return { kind: 'not_allowed' };
    return { kind: 'newuser', userName: headerUser };
  }
  return { kind: 'normal' };
}

export interface UserContext {
  name: string;
  /** `[]` through `@normal` (the proxy overwrites client roles), `['_admin']` through `@newuser`. */
  roles: string[];
}

/**
 * CouchDB's proxy authentication handler: the user named by `X-Auth-CouchDB-UserName`, when `X-Auth-CouchDB-Token` is
 * its HMAC under `secret`. Roles come from the proxy (`route`), never from the client's `X-Auth-CouchDB-Roles`.
 */
export function authenticate(headers: IncomingHttpHeaders, secret: string, route: ProxyRoute): UserContext | undefined {
  const name = header(headers, USERNAME_HEADER);
  const token = header(headers, TOKEN_HEADER);
  if (name === '' || token === '' || !verifyProxyToken(secret, name, token)) return undefined;
  return { name, roles: route.kind === 'newuser' ? ['_admin'] : [] };
}

/** CouchDB's answers to the denials the deployment produces. */
export const DENIALS = {
  authenticationRequired: { status: 401, body: { error: 'unauthorized', reason: 'Authentication required.' } },
  wrongPassword: { status: 401, body: { error: 'unauthorized', reason: 'Name or password is incorrect.' } },
  notServerAdmin: { status: 401, body: { error: 'unauthorized', reason: 'You are not a server admin.' } },
  notMetricsUser: { status: 401, body: { error: 'unauthorized', reason: 'You are not a server admin or read-only metrics user' } },
  forbiddenDb: { status: 403, body: { error: 'forbidden', reason: 'You are not allowed to access this db.' } },
  noDatabase: { status: 404, body: { error: 'not_found', reason: 'Database does not exist.' } },
  conflict: { status: 409, body: { error: 'conflict', reason: 'Document update conflict.' } },
} as const;

/** What the deployment's `@newuser` location makes of the header user name (see {@link nginxSignup}). */
export type SignupOutcome =
  | { kind: 'create'; userName: string }
  | { kind: 'refuse'; status: number; body: { error: string; reason: string } }
  /** The request line nginx sends is not HTTP (a space in the URL): CouchDB never answers it. */
  | { kind: 'no_answer' };

const USERS_FORBIDDEN = (reason: string) => ({ kind: 'refuse' as const, status: 403, body: { error: 'forbidden', reason } });

/**
 * The seed's `@newuser` location puts the header user name unescaped into the proxied URL
 * (`/_users/org.couchdb.user:$name`) and into the JSON body (`{"name": "$name", …}`). For most names that is the user
 * document of that name; for others CouchDB reads another request (measured on the real stack):
 * - a space or tab: the request line nginx sends is not HTTP; CouchDB never answers (nginx gives up after its
 *   `proxy_read_timeout`);
 * - `#` starts a fragment and `?` a query, `+` is a space, `%XX` is decoded: the document id is not the body's name →
 *   403 "Doc ID must be of the form org.couchdb.user:name"; a `%` that starts no escape → 400 `invalid_url_encoding`;
 * - `/`: the rest is an attachment name, the user document gets no `type` → 403 "doc.type must be user";
 * - `"` (or a `\` that is no JSON escape): the body is not JSON → 400 "invalid UTF-8 JSON"; a `\` that is one (`\b`)
 *   changes the body's name → the 403 above.
 */
export function nginxSignup(name: string): SignupOutcome {
  if (/[ \t]/.test(name)) return { kind: 'no_answer' };
  const path = (name.split('#')[0] ?? '').split('?')[0] ?? '';
  // A `%` that starts no escape (`a%zz%41`): CouchDB refuses the path before anything else (measured).
  if (/%(?![0-9a-fA-F]{2})/.test(path)) return { kind: 'refuse', status: 400, body: { error: 'bad_request', reason: 'invalid_url_encoding' } };
  const [first = '', ...attachment] = path.split('/');
  if (attachment.length > 0) return USERS_FORBIDDEN('doc.type must be user');
  let body: unknown;
  try {
    body = JSON.parse(`{"name": "${name}", "roles": [], "type": "user"}`);
  } catch {
    return { kind: 'refuse', status: 400, body: { error: 'bad_request', reason: 'invalid UTF-8 JSON' } };
  }
  const bodyName = (body as { name: string }).name;
  // A lone surrogate escape (`\ud800`): not UTF-8 for CouchDB's parser.
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(bodyName)) {
    return { kind: 'refuse', status: 400, body: { error: 'bad_request', reason: 'invalid UTF-8 JSON' } };
  }
  if (decodePath(first.replace(/\+/g, ' ')) !== bodyName) return USERS_FORBIDDEN('Doc ID must be of the form org.couchdb.user:name');
  return { kind: 'create', userName: bodyName };
}
