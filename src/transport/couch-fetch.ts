import { FeatError, toFeatError } from '../errors.js';
import { discard, jsonErrorResponse, jsonResponse, readJson, readText, utf8Bytes } from './responses.js';
import { fetchWithTimeout, silenceLimit } from './timeout.js';
import { lazy } from '../util/lazy.js';
import { sleep, withSignal } from '../util/abort.js';

const loadBodyLimit = lazy(() => import('./body-limit.js'));

/** The parts of the session the transport needs. */
export interface CouchAuth {
  /** Current proxy headers: the same object until the session changes (a refresh yields a new one). */
  headers(): Promise<Record<string, string>>;
  /** Called after a 401 from CouchDB for the headers `refused`: fetch a new token. Rejects when no refresh is possible. */
  refresh(refused?: Record<string, string>): Promise<void>;
  /** Called after any authenticated, non-401 response (resets refresh backoff). */
  succeeded?(): void;
}

export interface CouchFetchOptions {
  /** CouchDB base URL without trailing slash. Proxy headers go to URLs below it and nowhere else. */
  couchUrl: string;
  fetch: typeof fetch;
  auth: CouchAuth;
  /** Largest request body; 0 = no limit. */
  maxRequestBytes: number;
  /** How long a request may stay silent before it fails with `timeout` (long-polls: plus their heartbeat). */
  requestTimeout: number;
  /** A write answered `202 Accepted` (stored on fewer copies than the cluster's quorum). */
  accepted?(info: AcceptedWrite): void;
  /** Base of the pause between resends of a request that met a transient 5xx, in ms. @default 200 */
  resendDelayMs?: number;
  /**
   * The client's lifetime: once aborted (close()), every request in flight ends with its reason (`closed`), none is
   * resent, and no new one is sent.
   */
  signal?: AbortSignal;
}

/** What the `accepted` event carries: a write the server stored on fewer copies than its quorum (`202 Accepted`). */
export interface AcceptedWrite {
  /** Method and path of the request (no query, no credentials). */
  method: string;
  path: string;
  /** The document ids of the request, when known (`_bulk_docs`, a document PUT or DELETE). */
  ids: string[];
}

/**
 * Transient statuses: a proxy or a cluster losing a node (nginx 502/503/504, CouchDB 500 during failover), a proxy's
 * rate limit (429, whose `Retry-After` is honoured up to MAX_RETRY_AFTER_MS).
 */
const TRANSIENT = new Set([429, 500, 502, 503, 504]);
/** The longest `Retry-After` waited for before a resend (ms); a longer one is answered as it is. */
const MAX_RETRY_AFTER_MS = 5_000;

/** A response's `Retry-After` (seconds or an HTTP date) in ms, or undefined. */
function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}
/** Resends of one request after a transient status. */
const RESENDS = 2;

/** True when `url` is below `base` (same origin, path prefix). */
export function isBelow(url: string, base: string): boolean {
  return url === base || url.startsWith(base + '/') || url.startsWith(base + '?');
}

function urlOf(input: RequestInfo | URL): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  return input.url;
}

/**
 * The one fetch every CouchDB request goes through (PouchDB's http adapter and bootstrap use it):
 * - proxy headers only for `couchUrl`, `credentials: 'omit'`, redirects never followed with credentials;
 * - 401 → retry with newer headers if another request refreshed meanwhile, else refresh once and retry; a 401 after
 *   our own refresh is returned as is;
 * - `_bulk_docs` bodies split to fit `maxRequestBytes` (413 → halve and retry);
 * - non-JSON error bodies (an nginx HTML 413) turned into CouchDB-style JSON errors.
 */
export function createCouchFetch(options: CouchFetchOptions): typeof fetch {
  const { couchUrl, auth, maxRequestBytes, signal: lifetime } = options;
  const base = couchUrl.replace(/\/+$/, '');
  /** What ended a request, if anything did: its caller's signal or the client's lifetime. */
  const endedBy = (init: RequestInit): AbortSignal | undefined => [init.signal ?? undefined, lifetime].find((s) => s?.aborted);

  async function send(url: string, init: RequestInit, credentials: Record<string, string>): Promise<Response> {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(credentials)) headers.set(name, value);
    // No client may grant itself roles; the proxy overwrites this anyway.
    headers.delete('X-Auth-CouchDB-Roles');
    const request = { ...init, headers, credentials: 'omit', redirect: 'manual' } as const;
    let response: Response;
    const limit = silenceLimit(url, options.requestTimeout);
    try {
      response = await fetchWithTimeout(options.fetch, url, request, limit, undefined, lifetime);
    } catch (error) {
      // A kept-alive connection the server had just closed fails at once: try once more on a fresh one.
      // (Writes are safe to repeat: a write that did land comes back as a conflict with identical content.)
      if (endedBy(init) || !(error instanceof TypeError)) throw error;
      await sleep(50);
      // Not after close() (nor the caller's abort) meanwhile: fetchWithTimeout sends nothing then.
      response = await fetchWithTimeout(options.fetch, url, request, limit, undefined, lifetime);
    }
    if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
      // A browser hides a redirect's status and address (status 0): answered as a 300, never as a 5xx to resend.
      const to = response.headers.get('location');
      return jsonErrorResponse(
        response.status || 300,
        'redirect',
        `CouchDB answered with a redirect${to ? ` to ${to}` : response.status === 0 ? ' (the browser hides where to)' : ''}; point couchUrl at the final address (credentials are never sent across redirects)`,
      );
    }
    return response;
  }

  /**
   * A transient 5xx (a node going down behind the proxy) is resent, with backoff and jitter, when resending is safe:
   * every request the SDK and PouchDB send is, except a `POST` to the database itself (a new id each time). A write
   * that did land the first time meets its own revision on the resend: a 409 the store resolves to the same content.
   */
  async function authed(url: string, init: RequestInit): Promise<Response> {
    const method = (init.method ?? 'GET').toUpperCase();
    const resendable = !(method === 'POST' && /^\/[^/?]+\/?(\?|$)/.test(url.slice(base.length)));
    let response = await authedOnce(url, init);
    for (let resend = 0; resendable && (await isTransient(response, options.requestTimeout)) && resend < RESENDS && !endedBy(init); resend++) {
      const asked = retryAfterMs(response);
      if (asked !== undefined && asked > MAX_RETRY_AFTER_MS) break;
      discard(response);
      const pause = (options.resendDelayMs ?? 200) * 2 ** resend;
      // close() cuts the pause short.
      await sleep(Math.max(asked ?? 0, pause / 2 + Math.random() * pause), lifetime).catch(() => undefined);
      // Ended meanwhile: not resent, and ended as an aborted fetch is (the answer it had is discarded already).
      const ended = endedBy(init);
      if (ended) throw ended.reason;
      response = await authedOnce(url, init);
    }
    if (response.status === 202 && method !== 'GET' && options.accepted) options.accepted(acceptedWrite(method, url, init.body));
    return normalizeErrorBody(response, url, options.requestTimeout);
  }

  async function authedOnce(url: string, init: RequestInit): Promise<Response> {
    let used = await auth.headers();
    let response = await send(url, init, used);
    let refreshed = false;
    // A 401: when the session moved on meanwhile (another request refreshed it, or is refreshing it), retry with its
    // headers; otherwise refresh once ourselves. Those headers may be refused too (the secret rotated again), so a few
    // rounds, but one refresh of our own: a second 401 after it is returned as is.
    for (let round = 0; response.status === 401 && round < 3; round++) {
      let next: Record<string, string>;
      try {
        next = await auth.headers();
        if (next === used) {
          if (refreshed) break;
          refreshed = true;
          // The caller's signal ends the wait (the shared refresh itself is bounded by the session).
          await withSignal(auth.refresh(used), init.signal ?? undefined);
          next = await auth.headers();
        }
      } catch (error) {
        discard(response);
        // The accounts service could not be reached or did not answer (a hung refresh ends with `timeout`): that
        // failure, retried like any network failure — not a refusal of the credentials. A `forbidden` refusal (a token
        // of another account, an account disabled) keeps its own word, and so does an answer that was not a token
        // (`bad_response`: malformed JSON, another shape, a redirect).
        const failure = toFeatError(error);
        if (['network', 'timeout', 'server', 'aborted', 'closed', 'forbidden', 'bad_response'].includes(failure.code)) throw failure;
        return jsonErrorResponse(401, 'unauthorized', 'Authentication required and the token could not be refreshed');
      }
      discard(response);
      used = next;
      response = await send(url, init, used);
    }
    if (response.status !== 401) auth.succeeded?.();
    return response;
  }

  return async function couchFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const url = urlOf(input);
    if (!isBelow(url, base)) {
      // Not CouchDB: no proxy headers, no credentials.
      return fetchWithTimeout(options.fetch, input, { ...init, credentials: 'omit' }, silenceLimit(url, options.requestTimeout), undefined, lifetime);
    }
    const method = (init.method ?? 'GET').toUpperCase();
    if (method === 'POST' && typeof init.body === 'string' && /\/_bulk_docs(\?|$)/.test(url)) {
      const body = init.body;
      // Loaded on first use: most apps never send a body near the limit.
      return loadBodyLimit().then((m) => m.splitBulkDocs(url, init, body, maxRequestBytes, authed));
    }
    // A list of ids over the limit (`_revs_diff`, `_all_docs` keys, `_bulk_get`) is sent in parts; any other body (a
    // `_find` with a huge `$in`) cannot be split: answered here as the proxy would (413, `too_large`), without sending
    // it. (A string's UTF-8 size is at least its length, at most three times it.)
    const body = init.body;
    if (maxRequestBytes > 0 && typeof body === 'string' && body.length * 3 > maxRequestBytes && utf8Bytes(body) > maxRequestBytes) {
      if (method === 'POST' && /\/_(revs_diff|all_docs|bulk_get)(\?|$)/.test(url)) return loadBodyLimit().then((m) => m.splitList(url, init, body, maxRequestBytes, authed));
      return jsonResponse(413, { error: 'too_large', reason: `the request body is over maxRequestBytes (${maxRequestBytes} bytes), the proxy's limit`, url: url.split('?')[0] });
    }
    return authed(url, init);
  };
}

/** A 500/502/503, or CouchDB's `412 nodedown` ("progress not possible" while a cluster node goes down). */
async function isTransient(response: Response, ms: number): Promise<boolean> {
  if (TRANSIENT.has(response.status)) return true;
  if (response.status !== 412) return false;
  // Bounded: an error body is small, and one that trickles must not hold the request (the original is read next).
  const body = (await readJson(response.clone(), { ms, maxBytes: 64 * 1024 }).catch(() => undefined)) as { error?: unknown } | null | undefined;
  return body?.error === 'nodedown';
}

function acceptedWrite(method: string, url: string, body: BodyInit | null | undefined): AcceptedWrite {
  const path = url.split('?')[0]!;
  let ids: string[] = [];
  if (/\/_bulk_docs$/.test(path) && typeof body === 'string') {
    try {
      const docs = (JSON.parse(body) as { docs?: { _id?: unknown }[] }).docs ?? [];
      ids = docs.map((d) => d._id).filter((id): id is string => typeof id === 'string');
    } catch {
      // not JSON: no ids
    }
  } else {
    const last = path.split('/').pop();
    if (last && !last.startsWith('_')) ids = [decodeURIComponent(last)];
  }
  return { method, path: new URL(path).pathname, ids };
}

/**
 * CouchDB always answers JSON; anything else (an HTML error page from a proxy) becomes a JSON error with the same
 * status. Error bodies also get the request URL, which PouchDB copies onto its error (so ours can carry it).
 */
async function normalizeErrorBody(response: Response, url: string, ms: number): Promise<Response> {
  if (response.ok) return response;
  // An error body is small: read it within requestTimeout as a whole (one trickling a byte now and then is cut) and up
  // to MAX_ANSWER_BYTES (a larger one is not quoted).
  const read = await readText(response, { ms }).catch(() => ({ text: '' }));
  if ('hit' in read && read.hit === 'late') {
    throw new FeatError('timeout', `The error answer (HTTP ${response.status}) of ${new URL(url).pathname} did not arrive in full within ${ms} ms (option "requestTimeout")`, {
      url: url.split('?')[0]!,
      status: response.status,
    });
  }
  const text = 'text' in read ? read.text : '';
  let body: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // not JSON
  }
  if (!body) {
    const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
    const error = response.status === 413 ? 'too_large' : response.status >= 500 ? 'server_error' : 'http_error';
    body = { error, reason: title || `HTTP ${response.status} with a non-JSON body` };
  }
  return jsonResponse(response.status, { ...body, url: url.split('?')[0] });
}
