import ky, { HTTPError, TimeoutError, type KyInstance, type Options as KyOptions } from 'ky';
import { abortError, FeatError, httpError, toFeatError } from '../errors.js';
import { anySignal } from '../util/abort.js';
import { createAuthSource, type AuthSource } from '../session/auth.js';
import { askWithin, refuseRedirect } from '../session/answers.js';
import { discard, MAX_ANSWER_BYTES, readJson, readText } from '../transport/responses.js';
import {
  isAuthSource,
  resolveCallOptions,
  resolveOptions,
  type CallOptions,
  type FeatApiOptions,
  type ResolvedOptions,
} from './options.js';

/** One request as the endpoint modules describe it. */
export interface ApiRequest<T = unknown> {
  method: 'get' | 'post';
  /** Absolute URL (without query). */
  url: string;
  /** Query parameters, already turned into strings. */
  searchParams?: Record<string, string> | undefined;
  /** JSON body (POST). */
  json?: unknown;
  /** Checks the parsed body and returns the typed result; throws `bad_response` otherwise. */
  parse: (body: unknown, response: Response) => T;
  /** When set, a 404 resolves to this value instead of rejecting with `not_found`. */
  on404?: { value: T } | undefined;
  /** The caller's `{ signal, timeout }` (checked here). */
  options?: CallOptions | undefined;
}

/**
 * The ky instance every endpoint goes through, with the SDK's auth, retry and error policy.
 * Lower level than {@link FeatApi}: use it to call an endpoint this package does not wrap yet.
 */
export interface ApiClient {
  /** Sends the request and resolves with `parse(body)`; rejects with a {@link FeatError} only. */
  request<T = unknown>(request: ApiRequest<T>): Promise<T>;
  /** The shared Authorization source. */
  readonly auth: AuthSource;
  /** The underlying ky instance (hooks: auth, 401 refresh, credential scrubbing). Errors it throws are not mapped. */
  readonly ky: KyInstance;
  /** Checked options. */
  readonly options: Readonly<ResolvedOptions>;
}

/** Per-call state shared with the instance hooks through ky's `context`. */
interface CallState {
  /** True once a 401 made us ask for fresh credentials (we do that once per call). */
  refreshed: boolean;
  /** The call's time limit: also bounds each wait for the auth provider. */
  ms: number;
  /** What ends the call (its signal, the client's, a cut body): also ends a wait for the auth provider. */
  signal: AbortSignal;
}

const STATE = 'featCall';

/** The headers ky reads a server's wait from on a 429 or 503, in its order (the first present counts). */
const WAIT_HEADERS = ['Retry-After', 'RateLimit-Reset', 'X-RateLimit-Retry-After', 'X-RateLimit-Reset', 'X-Rate-Limit-Reset'];

/**
 * A 429/503 whose wait header names a time already past (a negative number of seconds, an old date or timestamp): ky
 * would retry at once, every attempt, so the usual backoff is taken instead.
 */
function pastRetryAfter(response: Response): boolean {
  if (response.status !== 429 && response.status !== 503) return false;
  const value = WAIT_HEADERS.map((name) => response.headers.get(name)).find((v) => v !== null);
  if (!value) return false;
  let after = Number(value) * 1000;
  if (Number.isNaN(after)) after = Date.parse(value) - Date.now();
  else if (after >= Date.parse('2024-01-01')) after -= Date.now();
  return after < 0;
}

/** The statuses a GET is retried on (ky's `retry.statusCodes`). */
const RETRY_STATUSES = [408, 429, 500, 502, 503, 504];

const stateOf = (options: { context: Record<string, unknown> }): CallState | undefined =>
  options.context[STATE] as CallState | undefined;

/** Removes the Authorization value from anything that may end up in an error's `cause`. */
function scrub(error: unknown): void {
  const request = (error as { request?: unknown } | null)?.request;
  if (request instanceof Request) request.headers.delete('authorization');
}

const plainUrl = (url: string): string => {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return url;
  }
};

/** Calls the auth source; a failing provider becomes `unauthorized` (with its error as `cause`). */
async function askAuth(ask: () => Promise<string>): Promise<string> {
  try {
    return await ask();
  } catch (error) {
    if (error instanceof FeatError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new FeatError('unauthorized', `The auth provider failed: ${message}`, { cause: error });
  }
}

function toAuthSource(auth: ResolvedOptions['auth'], timeout: number): AuthSource {
  return isAuthSource(auth) ? auth : createAuthSource(auth, { timeout });
}

/**
 * Builds the ky-based client: `beforeRequest` sets `Authorization` from the auth source, `afterResponse` turns the first
 * 401 of a call into `auth.refresh()` plus one forced retry, `beforeError` scrubs the credentials off ky's errors, and GETs
 * are retried on network errors, 408, 429 and 5xx with capped exponential backoff (POSTs never).
 */
export function createApiClient(options: FeatApiOptions): ApiClient;
/** @internal `requireApiUrl: false` for accounts-only clients. */
export function createApiClient(options: unknown, flags: { requireApiUrl?: boolean }): ApiClient;
export function createApiClient(options: unknown, flags: { requireApiUrl?: boolean } = {}): ApiClient {
  const resolved = resolveOptions(options, flags);
  // A provider call that does not answer within `timeout` fails (`timeout`) and is not cached: the next call asks again.
  const auth = toAuthSource(resolved.auth, resolved.timeout);
  let refreshing: Promise<void> | undefined;
  /** The Authorization value each call sent last; kept out of ky's options so errors never carry it. */
  const sentBy = new WeakMap<CallState, string>();

  /**
   * Asks for fresh credentials after a 401, once for a burst of calls: concurrent 401s share one refresh, and a call whose
   * 401 answered an Authorization value that has been replaced since just retries with the new one.
   */
  const refreshAfter401 = (sent: string | undefined): Promise<void> => {
    // Bounded as a whole (also with an AuthSource of the app's own), so a refresh that hung is not shared forever.
    refreshing ??= askWithin(
      async () => {
        const current = await askAuth(() => auth.get());
        if (sent !== undefined && current !== sent) return;
        await askAuth(() => auth.refresh());
      },
      2 * resolved.timeout,
      undefined,
    ).finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };

  const instance = ky.create({
    timeout: resolved.timeout,
    throwHttpErrors: true,
    // Answers are taken only from the configured origins: a redirect is refused (afterResponse), never followed.
    redirect: 'manual',
    ...(resolved.fetch === undefined ? {} : { fetch: resolved.fetch as NonNullable<KyOptions['fetch']> }),
    retry: {
      // One more than the user's limit: the forced retry after a 401 also counts against ky's limit.
      // `shouldRetry` (per call, below) enforces the user's limit for ordinary retries.
      limit: resolved.retry.limit + 1,
      methods: ['get'],
      statusCodes: RETRY_STATUSES,
      afterStatusCodes: [429, 503],
      backoffLimit: resolved.retry.backoffLimit,
      maxRetryAfter: resolved.retry.backoffLimit,
    },
    hooks: {
      beforeRequest: [
        async (request, options) => {
          const state = stateOf(options);
          // The provider is asked outside ky's timeout: the call's own limit and signal bound the wait.
          const value = await askWithin(() => askAuth(() => auth.get()), state?.ms ?? resolved.timeout, state?.signal ?? options.signal ?? undefined);
          if (state) sentBy.set(state, value);
          request.headers.set('Authorization', value);
          if (!request.headers.has('accept')) request.headers.set('Accept', 'application/json');
        },
      ],
      afterResponse: [
        (request, _options, response) => refuseRedirect(response, plainUrl(request.url)),
        async (_request, options, response) => {
          const state = stateOf(options);
          if (response.status !== 401 || !state || state.refreshed) return;
          state.refreshed = true;
          await askWithin(() => refreshAfter401(sentBy.get(state)), state.ms, state.signal);
          return ky.retry({ delay: 0, code: 'UNAUTHORIZED' });
        },
      ],
      beforeError: [
        (error) => {
          scrub(error);
          return error;
        },
      ],
    },
  });

  const request = async <T>(req: ApiRequest<T>): Promise<T> => {
    const call = resolveCallOptions(req.options);
    const url = plainUrl(req.url);
    // The client's `signal` option ended it: its reason when a FeatError (`closed`), else `aborted`.
    const ended = resolved.signal;
    const endedError = (signal: AbortSignal) => (signal.reason instanceof FeatError ? signal.reason : abortError(signal, { url }));
    if (ended?.aborted) throw endedError(ended);
    // What ends the request: the call's signal, the client's, and a body that stops coming.
    const cut = new AbortController();
    const joined = anySignal([call.signal, ended, cut.signal]);
    try {
      return await send(req, call, url, joined.signal, () => cut.abort());
    } catch (error) {
      if (ended?.aborted && !call.signal?.aborted) throw endedError(ended);
      throw error;
    } finally {
      joined.dispose();
    }
  };

  const send = async <T>(req: ApiRequest<T>, call: CallOptions, url: string, fetchSignal: AbortSignal, cut: () => void): Promise<T> => {
    // Errors read as the app's own signal says (a cut body is a timeout, not an abort).
    const { signal } = call;
    if (signal?.aborted) throw abortError(signal, { url });
    const ms = call.timeout ?? resolved.timeout;
    const state: CallState = { refreshed: false, ms, signal: fetchSignal };
    const limit = resolved.retry.limit;
    const kyOptions: KyOptions = {
      method: req.method,
      context: { [STATE]: state },
      retry: {
        shouldRetry: ({ error, retryCount }) => {
          if (error instanceof FeatError || fetchSignal.aborted) return false;
          // The forced retry after a 401 does not count against the user's limit.
          if (retryCount - (state.refreshed ? 1 : 0) > limit) return false;
          // ky retries this answer: its body is never read. Release it now, before the wait: left unread (ky keeps it,
          // teed by the clone it gave the afterResponse hooks), an abort during the wait errors it, and that
          // AbortError escaped as an unhandled rejection.
          if (error instanceof HTTPError && RETRY_STATUSES.includes(error.response.status)) {
            discard(error.response);
            // A wait in the past (a negative Retry-After, a reset time gone by) is no wait ky should take: the backoff.
            if (pastRetryAfter(error.response)) return true;
          }
          return undefined;
        },
      },
      ...(req.searchParams === undefined ? {} : { searchParams: req.searchParams }),
      ...(req.json === undefined ? {} : { json: req.json }),
      ...(call.timeout === undefined ? {} : { timeout: call.timeout }),
      signal: fetchSignal,
    };
    let response: Response;
    let fullUrl = url;
    try {
      response = await instance(req.url, kyOptions);
      fullUrl = plainUrl(response.url || searchUrl(url, req.searchParams));
    } catch (error) {
      scrub(error);
      if (error instanceof HTTPError) {
        fullUrl = plainUrl(error.request.url);
        if (error.response.status === 404 && req.on404) {
          discard(error.response);
          return req.on404.value;
        }
        let failure: FeatError;
        try {
          failure = await statusError(error, fullUrl, ms, fetchSignal);
        } catch (abort) {
          throw mapError(abort, signal, fullUrl, fullUrl, error.response.status);
        }
        throw failure;
      }
      throw mapError(error, signal, fullUrl, searchUrl(url, req.searchParams));
    }
    let text: string;
    try {
      // ky's timeout ends with the headers: a body that stops coming is bounded by the same limit.
      text = await bodyWithin(response, ms, fullUrl, cut);
    } catch (error) {
      throw mapError(error, signal, fullUrl, fullUrl, response.status);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new FeatError('bad_response', `${req.method.toUpperCase()} ${pathOf(fullUrl)} answered with a body that is not JSON: ${snippet(text)}`, {
        cause: error,
        status: response.status,
        url: fullUrl,
      });
    }
    try {
      return req.parse(body, response);
    } catch (error) {
      if (error instanceof FeatError && error.code === 'bad_response' && (error.status === undefined || error.url === undefined)) {
        throw new FeatError('bad_response', error.message, { cause: error.cause ?? error, status: response.status, url: fullUrl });
      }
      throw toFeatError(error, { status: response.status, url: fullUrl });
    }
  };

  return { request, auth, ky: instance, options: resolved };
}

/**
 * The response's body as text, or `timeout` once `ms` pass without it, or `bad_response` past {@link MAX_ANSWER_BYTES}
 * (decompressed; `cut` ends its request either way).
 */
async function bodyWithin(response: Response, ms: number, url: string, cut: () => void): Promise<string> {
  const result = await readText(response, { ms });
  if ('text' in result) return result.text;
  cut();
  if (result.hit === 'too_large') {
    throw new FeatError('bad_response', `The answer of ${pathOf(url)} is larger than ${MAX_ANSWER_BYTES} bytes; no answer of this API is that large`, {
      status: response.status,
      url,
    });
  }
  throw new FeatError('timeout', `The answer of ${pathOf(url)} stopped coming: its body did not arrive within ${ms} ms (raise "timeout" or check the server)`, {
    status: response.status,
    url,
  });
}

function searchUrl(url: string, params: Record<string, string> | undefined): string {
  if (params === undefined) return url;
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
}

const pathOf = (url: string): string => {
  try {
    const u = new URL(url);
    return u.pathname;
  } catch {
    return url;
  }
};

const snippet = (text: string): string => (text === '' ? '(empty body)' : JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text));

/** The most bytes of an error body read for its explanation. */
const MAX_REASON_BYTES = 64 * 1024;

/**
 * The server's explanation, when its error body has one (`detail`, `message`, `error`, `reason`). Read within `ms` and
 * up to {@link MAX_REASON_BYTES} (else no explanation); an aborted `signal` rejects with its reason.
 */
async function reasonOf(response: Response, ms: number, signal: AbortSignal): Promise<string | undefined> {
  // Not JSON (HTML error pages are not worth quoting), too large or late: no explanation.
  const body = await readJson(response, { ms, maxBytes: MAX_REASON_BYTES, signal }).catch((error: unknown) => {
    if (signal.aborted) throw error;
    return undefined;
  });
  if (typeof body !== 'object' || body === null) return undefined;
  for (const key of ['detail', 'message', 'reason', 'error']) {
    const value = (body as Record<string, unknown>)[key];
    if (typeof value === 'string' && value !== '') return value.slice(0, 200);
  }
  return undefined;
}

async function statusError(error: HTTPError, url: string, ms: number, signal: AbortSignal): Promise<FeatError> {
  const { status } = error.response;
  return httpError(status, { cause: error, url, reason: await reasonOf(error.response, ms, signal) });
}

/** Non-HTTP failures: abort, timeout, connection errors, anything else. */
function mapError(error: unknown, signal: AbortSignal | undefined, url: string, requestUrl: string, status?: number): FeatError {
  const context = status === undefined ? { url: requestUrl } : { url, status };
  if (signal?.aborted) return abortError(signal, context);
  if (error instanceof FeatError) {
    if (error.url !== undefined) return error;
    return new (error.constructor as typeof FeatError)(error.code, error.message, { ...context, cause: error.cause ?? error });
  }
  if (error instanceof TimeoutError) {
    return new FeatError('timeout', `The request to ${pathOf(requestUrl)} timed out (raise "timeout" or check the server)`, { ...context, cause: error });
  }
  const mapped = toFeatError(error, context);
  // `toFeatError` reports unknown failures as bad_response; a failed fetch without a response is a network failure.
  if (mapped.code === 'bad_response' && status === undefined) {
    const message = error instanceof Error ? error.message : String(error);
    return new FeatError('network', `Network request failed: ${message}`, { ...context, cause: error });
  }
  return mapped;
}
