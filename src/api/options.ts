import { FeatValidationError, readable } from '../errors.js';
import { validateAuthOption, type AuthOption, type AuthSource } from '../session/auth.js';

/**
 * A `fetch` implementation. It receives a `Request` (with the `Authorization` header already set) and may get a second
 * init argument; the global `fetch` and most wrappers (`(input, init) => fetch(input, init)`) fit.
 */
export type FetchLike = (input: Request, init?: RequestInit) => Promise<Response>;


/** How failed GET requests are retried. POST requests are never retried (except once after a 401, with fresh auth). */
export interface RetryPolicy {
  /**
   * How many times a GET is retried after a network error or a 408/429/5xx answer.
   * @default 2
   */
  limit?: number | undefined;
  /**
   * Upper bound of the delay between two attempts, in milliseconds. The delay grows exponentially (300 ms, 600 ms, …)
   * up to this cap; a `Retry-After` header is honoured but capped by it too.
   * @default 3000
   */
  backoffLimit?: number | undefined;
}

/** Options of {@link createFeatApi} (and of the lower-level {@link createApiClient}). */
export interface FeatApiOptions {
  /** Base URL of the REST API, an absolute http(s) URL, e.g. `https://www.featapi.com`. A path prefix is kept. */
  apiUrl: string;
  /** Base URL of the accounts service, e.g. `https://accounts.feat.com`. Needed only for `accounts.couchToken()`. */
  accountsUrl?: string | undefined;
  /**
   * The `Authorization` value (`'Bearer …'`; a bare token gets `Bearer `), a function returning it (asked again after a
   * 401), or an {@link AuthSource} shared with other parts of the SDK (the main client passes its own).
   */
  auth: AuthOption | AuthSource;
  /** `fetch` used for every request, e.g. to count or proxy requests. @default globalThis.fetch */
  fetch?: FetchLike | undefined;
  /**
   * Time limit of one attempt (until the response headers arrive), in milliseconds. A call may override it.
   * @default 10000
   */
  timeout?: number | undefined;
  /**
   * Retry policy for GETs: a number is the `limit`. `0` disables retries.
   * @default { limit: 2, backoffLimit: 3000 }
   */
  retry?: number | RetryPolicy | undefined;
  /**
   * Ends every call of this client, in flight or later (e.g. at logout): they reject with `aborted` (or with the
   * signal's reason when it is a `FeatError`: `client.api` rejects with `closed` after `close()`).
   * @default undefined
   */
  signal?: AbortSignal | undefined;
}

/** The optional last argument of every call. */
export interface CallOptions {
  /** Aborts the call; it then rejects with code `aborted` and the signal's `reason` as `cause`. */
  signal?: AbortSignal | undefined;
  /** Overrides the time limit of one attempt for this call, in milliseconds. */
  timeout?: number | undefined;
}

/** The defaults, in one place. */
export const API_DEFAULTS = {
  /** @default 10000 */
  timeout: 10_000,
  /** @default 2 */
  retryLimit: 2,
  /** @default 3000 */
  backoffLimit: 3_000,
} as const;

/** Largest timer delay JavaScript supports. */
const MAX_TIMEOUT = 2_147_483_647;

const invalid = (message: string) => new FeatValidationError('invalid_argument', message);

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** True for an absolute `http:`/`https:` URL. */
export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.trim() !== value || value === '') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

export function isAuthSource(auth: unknown): auth is AuthSource {
  return (
    isRecord(auth) &&
    typeof (auth as Partial<AuthSource>).get === 'function' &&
    typeof (auth as Partial<AuthSource>).refresh === 'function'
  );
}

function checkBaseUrl(value: unknown, name: string): string {
  if (!isHttpUrl(value)) {
    // Whatever it is, credentials written into it (`scheme://user:password@`) are not repeated.
    const shown = typeof value === 'string' ? value.replace(/\/\/[^/?#]*@/, '//***@') : value;
    throw invalid(`"${name}" must be an absolute http(s) URL such as "https://www.featapi.com" (got ${describe(shown)})`);
  }
  const url = new URL(value);
  // Credentials in the URL would travel in messages and causes (and fetch refuses them): auth goes in "auth".
  if (url.username !== '' || url.password !== '') {
    throw invalid(`"${name}" must not contain credentials (user:password@); pass them with the "auth" option`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw invalid(`"${name}" must not have a query or fragment (got "${url.origin}${url.pathname}")`);
  }
  return value.replace(/\/+$/, '');
}

function checkTimeout(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT) {
    throw invalid(`"${name}" must be a positive number of milliseconds up to ${MAX_TIMEOUT} (got ${describe(value)})`);
  }
  return value;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Normalised options shared by the ky instance and every endpoint. */
export interface ResolvedOptions {
  apiUrl: string | undefined;
  accountsUrl: string | undefined;
  auth: AuthOption | AuthSource;
  fetch: FetchLike | undefined;
  timeout: number;
  retry: { limit: number; backoffLimit: number };
  signal: AbortSignal | undefined;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' || typeof value === 'function') return typeof value === 'object' ? 'an object' : 'a function';
  return String(value);
}

/**
 * Checks client options. Not an object, or a bad value → `invalid_argument`.
 * `requireApiUrl: false` is for clients that only talk to the accounts service.
 */
export function resolveOptions(options: unknown, { requireApiUrl = true } = {}): ResolvedOptions {
  return readable(() => resolve(options, requireApiUrl), 'The options');
}

function resolve(options: unknown, requireApiUrl: boolean): ResolvedOptions {
  if (!isRecord(options)) {
    throw new FeatValidationError('invalid_argument', `The options must be an object like { apiUrl, auth } (got ${describe(options)})`);
  }
  const apiUrl = requireApiUrl || options.apiUrl !== undefined ? checkBaseUrl(options.apiUrl, 'apiUrl') : undefined;
  const accountsUrl = options.accountsUrl === undefined ? undefined : checkBaseUrl(options.accountsUrl, 'accountsUrl');
  const auth = options.auth;
  if (!isAuthSource(auth)) validateAuthOption(auth);
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw invalid(`"fetch" must be a function (got ${describe(options.fetch)})`);
  }
  const timeout = checkTimeout(options.timeout, 'timeout') ?? API_DEFAULTS.timeout;
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalid(`"signal" must be an AbortSignal (got ${describe(options.signal)})`);
  const retry: { limit: number; backoffLimit: number } = { limit: API_DEFAULTS.retryLimit, backoffLimit: API_DEFAULTS.backoffLimit };
  const r = options.retry;
  if (typeof r === 'number') {
    if (!isCount(r)) throw invalid(`"retry" must be a non-negative integer or { limit?, backoffLimit? } (got ${describe(r)})`);
    retry.limit = r;
  } else if (isRecord(r)) {
    for (const key of Object.keys(r)) {
      if (key !== 'limit' && key !== 'backoffLimit') throw invalid(`"retry" has an unknown option "${key}"; use limit or backoffLimit`);
    }
    if (r.limit !== undefined) {
      if (!isCount(r.limit)) throw invalid(`"retry.limit" must be a non-negative integer (got ${describe(r.limit)})`);
      retry.limit = r.limit;
    }
    if (r.backoffLimit !== undefined) {
      if (!isCount(r.backoffLimit)) throw invalid(`"retry.backoffLimit" must be a non-negative number of milliseconds (got ${describe(r.backoffLimit)})`);
      retry.backoffLimit = r.backoffLimit;
    }
  } else if (r !== undefined) {
    throw invalid(`"retry" must be a non-negative integer or { limit?, backoffLimit? } (got ${describe(r)})`);
  }
  return {
    apiUrl,
    accountsUrl,
    auth: auth as AuthOption | AuthSource,
    fetch: options.fetch as FetchLike | undefined,
    timeout,
    retry,
    signal: options.signal as AbortSignal | undefined,
  };
}

/** Checks the optional last argument of a call. Not an object, or a bad value → `invalid_argument`. */
export function resolveCallOptions(options: unknown): CallOptions {
  return readable(() => resolveCall(options), 'The call options');
}

function resolveCall(options: unknown): CallOptions {
  if (options === undefined) return {};
  if (!isRecord(options)) {
    throw new FeatValidationError('invalid_argument', `The call options must be an object like { signal, timeout } (got ${describe(options)})`);
  }
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalid(`"signal" must be an AbortSignal (got ${describe(signal)})`);
  }
  const timeout = checkTimeout(options.timeout, 'timeout');
  return { signal, timeout };
}
