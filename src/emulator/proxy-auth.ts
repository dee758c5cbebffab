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
  notServerAdmin: { status: 401, body: { error: 'unauthorized', reason: 'You are not a server admin.' } },
  notMetricsUser: { status: 401, body: { error: 'unauthorized', reason: 'You are not a server admin or read-only metrics user' } },
  forbiddenDb: { status: 403, body: { error: 'forbidden', reason: 'You are not allowed to access this db.' } },
  noDatabase: { status: 404, body: { error: 'not_found', reason: 'Database does not exist.' } },
  conflict: { status: 409, body: { error: 'conflict', reason: 'Document update conflict.' } },
} as const;
