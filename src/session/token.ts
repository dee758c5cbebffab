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
  if (!isRecord(headers)) throw bad('"headers"');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw bad(`a string value for header "${name}"`);
    // fetch would refuse to send it (a TypeError that looks like a network failure, retried forever).
    if (!isLatin1(value)) throw bad(`a header value fetch can send for "${name}" (HTTP header values are Latin-1)`);
    out[name] = value;
  }
  if (!out['X-Auth-CouchDB-UserName']) throw bad('an "X-Auth-CouchDB-UserName" header');
  if (!out['X-Auth-CouchDB-Token']) throw bad('an "X-Auth-CouchDB-Token" header');
  return { headers: out as CouchToken['headers'], dbname: data.dbname };
}
