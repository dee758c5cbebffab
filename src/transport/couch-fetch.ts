import { discard, jsonErrorResponse, jsonResponse } from './responses.js';

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
}

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
  const { couchUrl, auth, maxRequestBytes } = options;
  const base = couchUrl.replace(/\/+$/, '');

  async function send(url: string, init: RequestInit, credentials: Record<string, string>): Promise<Response> {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(credentials)) headers.set(name, value);
    // No client may grant itself roles; the proxy overwrites this anyway.
    headers.delete('X-Auth-CouchDB-Roles');
    const request = { ...init, headers, credentials: 'omit', redirect: 'manual' } as const;
    let response: Response;
    try {
      response = await options.fetch(url, request);
    } catch (error) {
      // A kept-alive connection the server had just closed fails at once: try once more on a fresh one.
      // (Writes are safe to repeat: a write that did land comes back as a conflict with identical content.)
      if (init.signal?.aborted || !(error instanceof TypeError)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
      response = await options.fetch(url, request);
    }
    if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
      return jsonErrorResponse(
        response.status || 502,
        'redirect',
        `CouchDB answered with a redirect${response.headers.get('location') ? ` to ${response.headers.get('location')}` : ''}; point couchUrl at the final address (credentials are never sent across redirects)`,
      );
    }
    return response;
  }

  async function authed(url: string, init: RequestInit): Promise<Response> {
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
          await auth.refresh(used);
          next = await auth.headers();
        }
      } catch {
        discard(response);
        return jsonErrorResponse(401, 'unauthorized', 'Authentication required and the token could not be refreshed');
      }
      discard(response);
      used = next;
      response = await send(url, init, used);
    }
    if (response.status !== 401) auth.succeeded?.();
    return normalizeErrorBody(response, url);
  }

  return async function couchFetch(input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> {
    const url = urlOf(input);
    if (!isBelow(url, base)) {
      // Not CouchDB: no proxy headers, no credentials.
      return options.fetch(input, { ...init, credentials: 'omit' });
    }
    const method = (init.method ?? 'GET').toUpperCase();
    if (method === 'POST' && typeof init.body === 'string' && /\/_bulk_docs(\?|$)/.test(url)) {
      const body = init.body;
      // Loaded on first use: most apps never send a body near the limit.
      return import('./body-limit.js').then((m) => m.splitBulkDocs(url, init, body, maxRequestBytes, authed));
    }
    return authed(url, init);
  };
}

/**
 * CouchDB always answers JSON; anything else (an HTML error page from a proxy) becomes a JSON error with the same
 * status. Error bodies also get the request URL, which PouchDB copies onto its error (so ours can carry it).
 */
async function normalizeErrorBody(response: Response, url: string): Promise<Response> {
  if (response.ok) return response;
  const text = await response.text().catch(() => '');
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
