import { FeatValidationError, readable } from './errors.js';
import { validateAuthOption, type AuthOption } from './session/auth.js';
import { isDbName, isLatin1 } from './session/token.js';
import type { ConflictResolver } from './store/conflicts.js';
import { checkIndex, type IndexSpec } from './query/validate.js';
import { shown } from './store/validate.js';

/** Proxy-auth session used instead of the accounts service (any CouchDB-compatible server). */
export interface SessionOption {
  /** The user's database name, e.g. `userdb-616c696365`. */
  dbName: string;
  /** Headers sent with every CouchDB request, e.g. `X-Auth-CouchDB-UserName` / `X-Auth-CouchDB-Token`. */
  headers: Record<string, string>;
  /** The CouchDB user name; taken from `X-Auth-CouchDB-UserName` when omitted. */
  userName?: string | undefined;
}

/** Where the local replica lives (local-first mode). */
export interface LocalOptions {
  /**
   * PouchDB adapter name for the local replica: `'indexeddb'` (or `'idb'`) in browsers and workers, `'memory'` or
   * `'leveldb'` in Node (any other adapter works once its plugin is registered on `pouchdb-core`).
   * @default 'indexeddb' in browsers and workers, 'memory' in Node
   */
  adapter?: string | undefined;
  /**
   * Name of the local database (a directory path for `leveldb`). A replica holds one account's data: opened for
   * another account it is refused with `forbidden` (give each account its own name).
   * @default `feat-<dbName>`; with the memory adapter a per-client name, so that two clients in one process act as two devices
   */
  name?: string | undefined;
  /**
   * Who is signed in (an account id, a user name), under which the device remembers the last session so that an app
   * started offline reopens this user's replica. Needed for an offline start when `auth` is a short token or one that
   * rotates (OAuth); never a secret (it is stored as is).
   * @default the user name of HTTP Basic `auth`; a digest of a token of 32 characters or more; else none
   */
  identity?: string | undefined;
  /**
   * Ask the browser once (`navigator.storage.persist()`) to keep the site's storage, so that the replica and its
   * unsynced writes are not evicted under storage pressure; `client.storage()` reports the answer.
   * @default false
   */
  persist?: boolean | undefined;
}

export type Mode = 'local-first' | 'remote';

/** Scheduled maintenance: purge expired values, collect orphaned chunks, compact the local replica (docs/export.md). */
export interface MaintenanceOptions {
  /**
   * Run maintenance on a schedule (`client.maintenance.run()` works either way).
   * @default true
   */
  enabled?: boolean | undefined;
  /**
   * Time between runs, in ms. A run starts only while the client is ready, online and idle (sync idle, no writes
   * queued); a busy client is tried again within 30 s. At most 2_147_483_647 (about 24.8 days, the longest timer).
   * @default 300_000 (5 minutes)
   */
  intervalMs?: number | undefined;
}

export interface FeatClientOptions {
  /** CouchDB base URL, behind the reverse proxy (e.g. `https://couchdb.feat.com`). */
  couchUrl: string;
  /** Accounts service base URL; the token comes from `GET {accountsUrl}/couchdb/token/`. Not needed with `session`. */
  accountsUrl?: string | undefined;
  /** Authorization value for the accounts service (and REST API), or a function returning the current one. */
  auth?: AuthOption | undefined;
  /** Skip the accounts service and use these proxy headers and database directly. */
  session?: SessionOption | undefined;
  /** Base URL of the REST API; enables `client.api`. */
  apiUrl?: string | undefined;
  /**
   * `'local-first'`: reads and writes go to a local replica that syncs live with the server.
   * `'remote'`: every operation goes to the server.
   * @default 'local-first'
   */
  mode?: Mode | undefined;
  /** Local replica settings (local-first mode). */
  local?: LocalOptions | undefined;
  /**
   * Decides which value wins when a write conflicts with another device's.
   * @default latest `updatedAt` wins; ties go to the higher revision
   */
  onConflict?: ConflictResolver | undefined;
  /**
   * The fetch used for every request the client makes (accounts, CouchDB, REST).
   * @default globalThis.fetch
   */
  fetch?: typeof fetch | undefined;
  /**
   * Largest document the server accepts, in UTF-8 JSON bytes (CouchDB `max_document_size`).
   * @default 8_000_000
   */
  maxDocumentBytes?: number | undefined;
  /**
   * Largest request body the proxy accepts (nginx `client_max_body_size`); 0 = no limit.
   * @default 1_048_576
   */
  maxRequestBytes?: number | undefined;
  /**
   * How long a request may stay silent (no response headers, no body bytes) before it fails with `timeout`: every
   * request to CouchDB, the accounts service and the REST API. A long-poll of the changes feed waits on purpose: its
   * limit is its heartbeat plus this. Also bounds how long `close()` and `logout()` wait for writes in flight. At most
   * 2_147_483_647 (about 24.8 days, the longest timer).
   * @default 30_000
   */
  requestTimeout?: number | undefined;
  /**
   * How long `ready()` waits for the first pull on a replica that has never synced, in ms (at most 2_147_483_647).
   * @default 10_000
   */
  initialSyncTimeout?: number | undefined;
  /**
   * How long bootstrap waits for the per-user database to appear after creating the user, in ms (at most 2_147_483_647).
   * @default 15_000
   */
  bootstrapTimeout?: number | undefined;
  /**
   * How many times a conflicting write is resolved and retried before it fails with `conflict`.
   * @default 5
   */
  conflictRetries?: number | undefined;
  /**
   * How many document revisions the store remembers (LRU); older keys cost one extra round trip on their next write.
   * @default 10_000
   */
  revCacheSize?: number | undefined;
  /** Scheduled maintenance. @default { enabled: true, intervalMs: 300_000 } */
  maintenance?: MaintenanceOptions | undefined;
  /**
   * Indexes of the values' fields for `store.find()` and `store.watchQuery()`, declared once: e.g.
   * `[{ fields: ['done', 'prio'] }, { fields: ['due'], name: 'by-due' }]`. Each is created, idempotently, in the
   * database queries run on (the replica in local-first mode, the server's database in remote mode): in the
   * background once `ready()` resolves, and in any case before the first query runs. A creation that fails rejects the
   * queries waiting for it (with its `FeatError`), is reported on `client.sync.on('error')`, and is tried again by the
   * next query.
   * @default [] (none declared: `find()` still creates the index a sort needs on first use)
   */
  indexes?: readonly IndexSpec[] | undefined;
}

export const DEFAULTS = {
  mode: 'local-first' as Mode,
  maxDocumentBytes: 8_000_000,
  maxRequestBytes: 1_048_576,
  requestTimeout: 30_000,
  initialSyncTimeout: 10_000,
  bootstrapTimeout: 15_000,
  conflictRetries: 5,
  revCacheSize: 10_000,
  indexes: [] as readonly IndexSpec[],
};

export type ResolvedOptions = Omit<FeatClientOptions, keyof typeof DEFAULTS | 'fetch' | 'couchUrl'> &
  typeof DEFAULTS & { couchUrl: string; fetch: typeof fetch };

const invalid = (message: string) => new FeatValidationError('invalid_argument', message);

/** A URL as it may appear in a message: whatever sits between `//` and `@` (credentials) is left out. */
export function printableUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1…@');
}

function checkUrl(name: string, value: unknown): string {
  if (typeof value !== 'string') throw invalid(`"${name}" must be an absolute http(s) URL string`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`"${name}" must be an absolute http(s) URL, got "${printableUrl(value)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`"${name}" must use http or https`);
  if (url.username || url.password) {
    // Never echoed: the value holds a password. Credentials in a URL would be sent by some fetches, logged by others.
    throw invalid(`"${name}" must not contain credentials (user:password@); pass them with "auth" or "session.headers"`);
  }
  return value.replace(/\/+$/, '');
}

/** The longest timer (ms): JavaScript runs a longer one at once. */
const MAX_DELAY = 2_147_483_647;

function checkCount(name: string, value: unknown, min: number, max = Infinity): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || !Number.isInteger(value)) {
    throw invalid(`"${name}" must be an integer ≥ ${min}${max < Infinity ? ` and ≤ ${max}` : ''}`);
  }
}

/** Validates the options and fills in defaults, in one place (a getter or a Proxy that throws: `invalid_argument`). */
export const resolveOptions = (options: unknown): ResolvedOptions => readable(() => resolve(options), 'createFeatClient(): the options');

function resolve(options: unknown): ResolvedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new FeatValidationError('invalid_argument', 'createFeatClient() expects an options object');
  }
  const o = options as FeatClientOptions;
  const couchUrl = checkUrl('couchUrl', o.couchUrl);
  if (o.accountsUrl !== undefined) checkUrl('accountsUrl', o.accountsUrl);
  if (o.apiUrl !== undefined) checkUrl('apiUrl', o.apiUrl);
  if (o.session === undefined) {
    if (o.accountsUrl === undefined) throw invalid('Pass "accountsUrl" and "auth", or a ready "session"');
    validateAuthOption(o.auth);
  } else {
    const s = o.session as unknown as Record<string, unknown>;
    if (typeof s !== 'object' || s === null) throw invalid('"session" must be { dbName, headers, userName? }');
    if (typeof s.dbName !== 'string' || s.dbName === '') throw invalid('"session.dbName" must be a non-empty string');
    if (!isDbName(s.dbName)) throw invalid('"session.dbName" must be a database name CouchDB allows: a lowercase letter, then lowercase letters, digits and _$()+-/');
    if (typeof s.headers !== 'object' || s.headers === null) throw invalid('"session.headers" must be an object of strings');
    for (const [k, v] of Object.entries(s.headers)) {
      if (typeof v !== 'string') throw invalid(`"session.headers.${k}" must be a string`);
      if (!isLatin1(v)) throw invalid(`"session.headers.${k}" holds a character a header cannot carry (HTTP header values are Latin-1)`);
    }
    if (s.userName !== undefined && typeof s.userName !== 'string') throw invalid('"session.userName" must be a string');
  }
  if (o.auth !== undefined) validateAuthOption(o.auth);
  if (o.mode !== undefined && o.mode !== 'local-first' && o.mode !== 'remote') {
    throw invalid(`"mode" must be 'local-first' or 'remote', got ${shown(o.mode)}`);
  }
  if (o.local !== undefined) {
    if (typeof o.local !== 'object' || o.local === null) throw invalid('"local" must be an object');
    if (o.local.adapter !== undefined && (typeof o.local.adapter !== 'string' || !o.local.adapter)) {
      throw invalid('"local.adapter" must be an adapter name such as "indexeddb", "memory" or "leveldb"');
    }
    if (o.local.name !== undefined && (typeof o.local.name !== 'string' || !o.local.name)) {
      throw invalid('"local.name" must be a non-empty string');
    }
    if (o.local.identity !== undefined && (typeof o.local.identity !== 'string' || !o.local.identity)) {
      throw invalid('"local.identity" must be a non-empty string (a user or account id, never a secret)');
    }
    if (o.local.persist !== undefined && typeof o.local.persist !== 'boolean') throw invalid('"local.persist" must be a boolean');
  }
  if (o.onConflict !== undefined && typeof o.onConflict !== 'function') throw invalid('"onConflict" must be a function');
  if (o.fetch !== undefined && typeof o.fetch !== 'function') throw invalid('"fetch" must be a fetch-compatible function');
  checkCount('maxDocumentBytes', o.maxDocumentBytes, 1024);
  checkCount('maxRequestBytes', o.maxRequestBytes, 0);
  if (o.maxRequestBytes !== undefined && o.maxRequestBytes > 0 && o.maxRequestBytes < 4096) {
    throw invalid('"maxRequestBytes" must be 0 (no limit) or at least 4096');
  }
  checkCount('requestTimeout', o.requestTimeout, 1, MAX_DELAY);
  checkCount('initialSyncTimeout', o.initialSyncTimeout, 0, MAX_DELAY);
  checkCount('bootstrapTimeout', o.bootstrapTimeout, 0, MAX_DELAY);
  checkCount('conflictRetries', o.conflictRetries, 0);
  checkCount('revCacheSize', o.revCacheSize, 1);
  const m = o.maintenance as Record<string, unknown> | undefined;
  if (m !== undefined) {
    if (typeof m !== 'object' || m === null || Array.isArray(m) || (m.enabled !== undefined && typeof m.enabled !== 'boolean')) {
      throw invalid('"maintenance" must be { enabled?: boolean, intervalMs? }');
    }
    checkCount('maintenance.intervalMs', m.intervalMs, 1, MAX_DELAY);
  }
  let indexes: IndexSpec[] | undefined;
  if (o.indexes !== undefined) {
    if (!Array.isArray(o.indexes)) throw invalid('"indexes" must be an array of { fields: [...], name? }');
    indexes = o.indexes.map((index, i) => checkIndex(index, `"indexes[${i}]"`));
  }
  const given = o.fetch ?? globalThis.fetch;
  if (typeof given !== 'function') throw invalid('No global fetch: pass the "fetch" option');
  // Always called as a plain function: browsers' fetch throws "Illegal invocation" when called as a method of
  // another object (`options.fetch(…)`), which is how the transport and the session call it.
  const fetchFn: typeof fetch = (input, init) => given(input, init);
  const defined = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return { ...DEFAULTS, ...defined, ...(indexes ? { indexes } : {}), couchUrl, fetch: fetchFn } as ResolvedOptions;
}
