import { FeatError } from '../errors.js';

/** What the accounts service hands out: proxy-auth headers for CouchDB and the user's database name. */
export interface CouchToken {
  headers: {
    'X-Auth-CouchDB-UserName': string;
    'X-Auth-CouchDB-Token': string;
    [name: string]: string;
  };
  dbname: string;
}

/** True when `value` can be sent as an HTTP header value (fetch refuses anything beyond U+00FF, and line breaks). */
export function isLatin1(value: string): boolean {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value);
}

/** An HTTP header name (RFC 9110 `token`). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Header names fetch will not send as given (the Fetch standard's forbidden request headers, hop-by-hop ones). */
const FORBIDDEN_HEADERS = new Set([
  'accept-charset', 'accept-encoding', 'access-control-request-headers', 'access-control-request-method', 'connection',
  'content-length', 'cookie', 'cookie2', 'date', 'dnt', 'expect', 'host', 'keep-alive', 'origin', 'referer',
  'set-cookie', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'via', 'proxy-connection', 'proxy-authorization',
]);

/**
 * A name CouchDB allows for a user's database (`couch_db` `DBNAME_REGEX`; its system databases are not a user's).
 * Anything else would address another path of the server (`.`, `..`, `_users`), or one it refuses.
 */
export const isDbName = (name: string): boolean => /^[a-z][a-z0-9_$()+/-]*$/.test(name);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a `GET /couchdb/token/` body (`{ data: { headers, dbname } }`) and returns its `data`.
 * Anything else → `bad_response`.
 */
export function parseCouchToken(body: unknown, url?: string): CouchToken {
  const data = isRecord(body) ? body.data : undefined;
  const headers = isRecord(data) ? data.headers : undefined;
  const bad = (what: string) =>
    new FeatError('bad_response', `The accounts service answered without ${what}; expected {data:{headers,dbname}}`, url === undefined ? {} : { url });
  if (!isRecord(data)) throw bad('"data"');
  if (typeof data.dbname !== 'string' || data.dbname === '') throw bad('a "dbname"');
  if (!isDbName(data.dbname)) throw bad(`a database name CouchDB allows (got ${JSON.stringify(data.dbname.slice(0, 64))})`);
  if (!isRecord(headers)) throw bad('"headers"');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    // fetch refuses (or silently drops) these: every request would fail like a network error, or go without them.
    if (!HEADER_NAME.test(name)) throw bad('valid header names (one is not an HTTP token: empty, or with spaces or separators)');
    if (FORBIDDEN_HEADERS.has(name.toLowerCase()) || /^(proxy-|sec-)/i.test(name)) {
      throw bad(`headers fetch may send (it refuses or drops "${name}", a connection-level or forbidden header)`);
    }
    if (typeof value !== 'string') throw bad(`a string value for header "${name}"`);
    // fetch would refuse to send it (a TypeError that looks like a network failure, retried forever).
    if (!isLatin1(value)) throw bad(`a header value fetch can send for "${name}" (HTTP header values are Latin-1)`);
    out[name] = value;
  }
  if (!out['X-Auth-CouchDB-UserName']) throw bad('an "X-Auth-CouchDB-UserName" header');
  if (!out['X-Auth-CouchDB-Token']) throw bad('an "X-Auth-CouchDB-Token" header');
  return { headers: out as CouchToken['headers'], dbname: data.dbname };
}
