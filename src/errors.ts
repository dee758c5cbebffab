/**
 * Every failure the SDK reports is a {@link FeatError} with a stable string `code`.
 * One mapping from HTTP statuses, PouchDB errors and fetch failures to codes lives here.
 */

/** Stable error codes. New codes may be added; existing ones never change meaning. */
export type FeatErrorCode =
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'invalid_key'
  | 'invalid_value'
  | 'invalid_argument'
  | 'network'
  | 'timeout'
  | 'server'
  | 'bad_response'
  | 'closed'
  | 'aborted'
  /** The device (or the browser's quota for the origin) has no room left for the local replica. */
  | 'storage_full'
  /**
   * The local replica was deleted under the running client (the site's data cleared by the user, DevTools or the
   * browser): what had reached the server is safe; create the client again (reload the page) to go on.
   */
  | 'storage_lost'
  /**
   * A listener of the app's (`watch`, `watchQuery`, `sync.on`) threw, or the promise it returned rejected: its own
   * error is the `cause`. Reported as an `error` event; the SDK carried on.
   */
  | 'listener';

/** Context attached to an error: what was being done, where, and why it failed underneath. */
export interface FeatErrorContext {
  /** The underlying error (a PouchDB error, a `TypeError` from fetch, …). */
  cause?: unknown;
  /** HTTP status of the failed response, when there was one. */
  status?: number;
  /** URL of the failed request (never includes credentials). */
  url?: string;
  /** Store key the failed operation was about. */
  key?: string;
}

export class FeatError extends Error {
  override name = 'FeatError';
  readonly code: FeatErrorCode;
  readonly status: number | undefined;
  readonly url: string | undefined;
  readonly key: string | undefined;
  /** The failure underneath (a network error, the server's answer), when there is one (declared here for apps whose `lib` is older than ES2022). */
  declare readonly cause?: unknown;

  constructor(code: FeatErrorCode, message: string, context: FeatErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.status = context.status;
    this.url = context.url;
    this.key = context.key;
  }
}

/** Bad arguments: `invalid_key`, `invalid_value`, `invalid_argument`. Nothing was written or sent. */
export class FeatValidationError extends FeatError {
  override name = 'FeatValidationError';
}

/** The server answered with an error status (`unauthorized`, `forbidden`, `not_found`, `too_large`, `server`, …). */
export class FeatHttpError extends FeatError {
  override name = 'FeatHttpError';
}

/** A write conflict that the resolver could not settle within the retry budget. */
export class FeatConflictError extends FeatError {
  override name = 'FeatConflictError';
}

/** True when `error` is a {@link FeatError}, optionally with the given code. */
export function isFeatError<C extends FeatErrorCode>(error: unknown, code: C): error is FeatError & { readonly code: C };
export function isFeatError(error: unknown, code?: FeatErrorCode): error is FeatError;
export function isFeatError(error: unknown, code?: FeatErrorCode): error is FeatError {
  return error instanceof FeatError && (code === undefined || error.code === code);
}

/**
 * In a page or worker (any origin: http(s), a file:// page's "null", an app shell's capacitor://), `fetch` fails alike
 * when the network does and when the server's answer does not allow this origin (CORS) — a proxy's own error page
 * carries no CORS headers at all.
 */
const networkHint = (): string =>
  typeof (globalThis as { location?: { origin?: unknown } }).location?.origin === 'string'
    ? "the server could not be reached, or its answer did not allow this page's origin (CORS): check the connection, then the server's CORS settings"
    : HINTS.network!;

const HINTS: Partial<Record<FeatErrorCode, string>> = {
  unauthorized: 'check the auth value or provider and that the accounts service issues tokens for this user',
  forbidden: "a user may only open their own database and create only their own account; an index (a query's sort) needs the database's admin role",
  too_large: 'split the value with setParts() or raise the server limits',
  // Said alike in both modes (an error does not know its client's): what to do is the same, whether the call was a
  // remote client's or one of a local-first client that needs the server (its writes never fail so).
  network: 'the server could not be reached: check the connection, then try again',
  server: 'the server failed; the call may be retried',
  bad_response: 'the server answered with something that is not the documented shape',
};

const CODES = new Set<string>([
  'unauthorized', 'forbidden', 'not_found', 'conflict', 'too_large', 'invalid_key', 'invalid_value', 'invalid_argument',
  'network', 'timeout', 'server', 'bad_response', 'closed', 'aborted', 'storage_full', 'storage_lost',
]);

/**
 * CouchDB error names that mean "the server is not able to right now", whatever the status: a cluster losing a node
 * answers `412 nodedown` ("progress not possible") — transient, never a conflict.
 */
const TRANSIENT_NAMES = new Set(['nodedown', 'no_majority', 'service_unavailable']);

/** Maps an HTTP status (and CouchDB's error name, when known) to a code. */
export function codeForStatus(status: number, name?: string): FeatErrorCode {
  if (name !== undefined && TRANSIENT_NAMES.has(name)) return 'server';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409 || status === 412) return 'conflict';
  if (status === 413) return 'too_large';
  if (status === 408 || status === 504) return 'timeout';
  // Too Many Requests (a proxy's rate limit): the server's refusal for now, to be retried later.
  if (status === 429) return 'server';
  if (status >= 500) return 'server';
  return 'bad_response';
}

/** A 413 of a Mango request: the body is the query itself, with no value in it to split. */
const QUERY_TOO_LARGE = "the query is over the server's request size limit: use fewer $in values, or query in parts and merge the results";
const isQuery = (url: string | undefined): boolean => url !== undefined && /\/_(find|explain|index)$/.test(url.split('?')[0]!);

/** Builds the error for a failed HTTP response. `reason` is the server's own explanation, if any. */
export function httpError(
  status: number,
  context: FeatErrorContext & { reason?: string | undefined; error?: string | undefined } = {},
): FeatHttpError {
  // CouchDB's `_index` wraps the refusal of its design document (a member, not an admin, of the database) in a 500.
  const code = status === 500 && /saving the design document: forbidden/.test(context.reason ?? '') ? 'forbidden' : codeForStatus(status, context.error);
  const what = context.key === undefined ? '' : ` for key "${context.key}"`;
  const reason = context.reason ? `: ${context.reason}` : '';
  const hint = code === 'too_large' && isQuery(context.url) ? ` (${QUERY_TOO_LARGE})` : HINTS[code] ? ` (${HINTS[code]})` : '';
  const { reason: _ignored, error: _name, ...rest } = context;
  return new FeatHttpError(code, `HTTP ${status}${what}${reason}${hint}`, { ...rest, status });
}

interface PouchLikeError {
  status?: unknown;
  name?: unknown;
  error?: unknown;
  reason?: unknown;
  message?: unknown;
  code?: unknown;
}

/** How fetch implementations (undici, browsers) and Node sockets say that the connection failed. */
const NETWORK_FAILURE =
  /fetch failed|Failed to fetch|NetworkError|network (?:connection|request|error)|Load failed|\bterminated\b|other side closed|socket hang up|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|UND_ERR_SOCKET|socket/i;

/** zlib's (gzip, deflate) and brotli's decoding failures, as Node's zlib codes them. */
const DECODE_FAILURE = /^(Z_(DATA|BUF|STREAM|NEED_DICT)_ERROR|ERR__ERROR_FORMAT\w*|ERR_BROTLI\w*)$/;

/** The `code` of an error's `cause` chain (undici puts the socket error there). */
function causeCode(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return '';
}

/**
 * A transaction IndexedDB aborted under a read or write of the replica (browsers abort those of a tab that was frozen,
 * or of a connection that blocked another's): PouchDB's `indexeddb` adapter fails a write with "transaction was
 * aborted", a request of the aborted transaction fails with IndexedDB's own `AbortError` ("The transaction was
 * aborted, so the request cannot be fulfilled"; Firefox: "A request was aborted…"). No server was asked, and no
 * signal of the app's ended it: a local `timeout` (a full device is told apart before this, by
 * sync/device-storage.ts). `undefined` for any other error.
 */
export function abortedTransaction(error: unknown, context: FeatErrorContext = {}): FeatError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { name, reason, message } = error as { name?: unknown; reason?: unknown; message?: unknown };
  const pouch = name === 'unknown_error' && (reason ?? message) === 'transaction was aborted';
  // (Only a request's: not, say, Chromium's "Version change transaction was aborted…" of a database deleted under it.)
  const request = isAbortError(error) && typeof message === 'string' && /^(The transaction was aborted, so the request|A request was aborted)/.test(message);
  if (!pouch && !request) return undefined;
  return localTimeout(`The local replica's IndexedDB transaction was aborted (browsers abort those of a tab that was frozen, or of a connection that blocked another's): the call did not complete, and nothing of it was stored. Try again.`, { ...context, cause: error });
}

function isAbortError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    ((error as { name?: unknown }).name === 'AbortError' || (error as { code?: unknown }).code === 'ABORT_ERR')
  );
}

/**
 * Maps anything thrown by PouchDB, fetch or our transport to a {@link FeatError}.
 * FeatErrors pass through unchanged (context is added where missing).
 */
export function toFeatError(error: unknown, context: FeatErrorContext = {}): FeatError {
  if (error instanceof FeatError) return error;
  const aborted = abortedTransaction(error, context);
  if (aborted) return aborted;
  if (isAbortError(error)) return new FeatError('aborted', 'The operation was aborted', { ...context, cause: error });
  if (typeof error === 'object' && error !== null) {
    const e = error as PouchLikeError;
    // A FeatError copied by PouchDB (its replicator re-creates errors property by property): keep its code.
    if (typeof e.name === 'string' && /^Feat\w*Error$/.test(e.name) && typeof e.code === 'string' && CODES.has(e.code)) {
      const { status, url, key } = e as { status?: unknown; url?: unknown; key?: unknown };
      return new FeatError(e.code as FeatErrorCode, typeof e.message === 'string' ? e.message : e.code, {
        ...(typeof status === 'number' ? { status } : {}),
        ...(typeof url === 'string' ? { url } : {}),
        ...(typeof key === 'string' ? { key } : {}),
        ...context,
        cause: error,
      });
    }
    // An aborted request copied the same way (the DOMException's name is not an own property, its message is).
    if (e.status === undefined && typeof e.message === 'string' && /^(This|The) operation was aborted/.test(e.message)) {
      return new FeatError('aborted', 'The operation was aborted', { ...context, cause: error });
    }
    // A body whose Content-Encoding does not decode (fetch ends it as "terminated", zlib's or brotli's error as its
    // cause): the answer is unreadable, not the connection lost.
    if (DECODE_FAILURE.test(causeCode(error))) {
      return new FeatError('bad_response', 'The server sent a body that could not be decoded (invalid Content-Encoding)', { ...context, cause: error });
    }
    const status = typeof e.status === 'number' ? e.status : undefined;
    const reason = typeof e.reason === 'string' ? e.reason : typeof e.message === 'string' ? e.message : undefined;
    // fetch() rejects with a TypeError on connection failures ("fetch failed", "Failed to fetch", "NetworkError …",
    // "Load failed"); any other TypeError is a bug, not the network ("bad_response: Unexpected failure" below).
    const fetchFailure = error instanceof TypeError && (NETWORK_FAILURE.test(String(reason)) || NETWORK_FAILURE.test(causeCode(error)));
    if (e.name === 'FetchError' || e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || fetchFailure) {
      if (status === undefined || status === 0 || status === 500) {
        return new FeatError('network', `Network request failed${reason ? `: ${reason}` : ''} (${networkHint()})`, {
          ...context,
          cause: error,
        });
      }
    }
    if (e.name === 'bad_request' && /invalid json/i.test(String(reason))) {
      return new FeatError('bad_response', `The server sent a body that is not JSON: ${reason}`, { ...context, cause: error });
    }
    if (status !== undefined && status > 0) {
      const url = context.url ?? (typeof (e as { url?: unknown }).url === 'string' ? (e as { url: string }).url : undefined);
      const name = typeof e.error === 'string' ? e.error : typeof e.name === 'string' ? e.name : undefined;
      return httpError(status, { ...context, ...(url === undefined ? {} : { url }), cause: error, reason, error: name });
    }
    if (e.name === 'unknown_error' || NETWORK_FAILURE.test(String(reason)) || NETWORK_FAILURE.test(causeCode(error))) {
      return new FeatError('network', `Network request failed${reason ? `: ${reason}` : ''} (${networkHint()})`, {
        ...context,
        cause: error,
      });
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return new FeatError('bad_response', `Unexpected failure: ${message}`, { ...context, cause: error });
}

/**
 * The timeouts of a wait on this device, not of the server (util/chunk-lock.ts, sync/tabs-writes.ts, an IndexedDB
 * transaction aborted under a call): sync/status.ts must not read them as the server being unreachable. Marked by
 * identity (the error object is kept as is on its way to the status), so nothing in the public shape of FeatError
 * changes.
 */
const localWaits = new WeakSet<object>();

/** True for a `timeout` that a wait on this device raised; also through a copy PouchDB made of it (kept as `cause`). */
export function isLocalWait(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  return localWaits.has(error) || localWaits.has((error as { cause?: object }).cause ?? {});
}

/** A `timeout` FeatError marked as a wait on this device (see {@link isLocalWait}). */
export function localTimeout(message: string, context: FeatErrorContext = {}): FeatError {
  const error = new FeatError('timeout', message, context);
  localWaits.add(error);
  return error;
}

/**
 * Runs the check of an argument: an error the check did not mean to throw — a getter or a Proxy trap of the argument
 * that throws — becomes a `code` error with it as `cause` (nothing was sent or changed).
 */
export function readable<T>(check: () => T, what: string, code: FeatErrorCode = 'invalid_argument'): T {
  try {
    return check();
  } catch (cause) {
    if (cause instanceof FeatValidationError) throw cause;
    throw new FeatValidationError(code, `${what} could not be read (a getter or a Proxy threw)`, { cause });
  }
}

/** The error a call receives when its `signal` was aborted. Keeps the signal's reason as `cause`. */
export function abortError(signal: AbortSignal, context: FeatErrorContext = {}): FeatError {
  return new FeatError('aborted', 'The operation was aborted', { ...context, cause: signal.reason });
}

/** The error a wait ended by `signal` reports: the FeatError it was aborted with (e.g. `closed`), else `aborted`. */
export function endedBy(signal: AbortSignal): FeatError {
  return signal.reason instanceof FeatError ? signal.reason : abortError(signal);
}

export function closedError(): FeatError {
  return new FeatError('closed', 'The client is closed; create a new client with createFeatClient()');
}

/**
 * A listener's own failure, told apart from the server's and the network's (its message may mention a socket, its
 * object carry a `status`: it is the app's, whatever it says).
 */
export function listenerError(error: unknown): FeatError {
  let text: string;
  try {
    text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    // (A thrown value whose text cannot be read: a Proxy, a throwing getter.)
    text = 'an error that cannot be shown';
  }
  return new FeatError('listener', `A listener of yours failed (${text}); the SDK carried on. Its error is this error's cause.`, { cause: error });
}

/**
 * Calls an app's listener: a throw, or a rejection of the promise it returns (an `async` listener), goes to `report`
 * as a `listener` error, never to the process.
 */
export function callListener(call: () => unknown, report: (error: FeatError) => void): void {
  try {
    const returned = call();
    if (typeof (returned as PromiseLike<unknown> | undefined)?.then === 'function') {
      (returned as PromiseLike<unknown>).then(undefined, (error: unknown) => report(listenerError(error)));
    }
  } catch (error) {
    report(listenerError(error));
  }
}
