import { http, HttpResponse } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { API_DEFAULTS, createApiClient, createFeatApi, FeatValidationError, type AuthSource } from '@feat/sdk/api';
import { ACCOUNTS, API, fastRetry, rejection, useMsw } from './msw.js';

const { server, requests } = useMsw();
const COUNT = `${API}/api/activity/comment/comment_count/`;
const q = { target_type: 400 } as const;

describe('createFeatApi options', () => {
  it.each([undefined, null, 'https://www.featapi.com', 42, []])('non-object options (%s) → invalid_argument', (options) => {
    expect(() => createFeatApi(options as never)).toThrow(expect.objectContaining({ name: 'FeatValidationError', code: 'invalid_argument' }));
  });

  it.each([
    ['relative apiUrl', { apiUrl: '/api', auth: 'tok' }],
    ['schemeless apiUrl', { apiUrl: 'www.featapi.com', auth: 'tok' }],
    ['ftp apiUrl', { apiUrl: 'ftp://featapi.com', auth: 'tok' }],
    ['apiUrl with a query', { apiUrl: 'https://www.featapi.com/?x=1', auth: 'tok' }],
    ['missing apiUrl', { auth: 'tok' }],
    ['bad accountsUrl', { apiUrl: API, accountsUrl: 'accounts.feat.com', auth: 'tok' }],
    ['missing auth', { apiUrl: API }],
    ['empty auth', { apiUrl: API, auth: '  ' }],
    ['auth object', { apiUrl: API, auth: { token: 'x' } }],
    ['fetch not a function', { apiUrl: API, auth: 'tok', fetch: 'fetch' }],
    ['negative timeout', { apiUrl: API, auth: 'tok', timeout: -5 }],
    ['NaN timeout', { apiUrl: API, auth: 'tok', timeout: Number.NaN }],
    ['huge timeout', { apiUrl: API, auth: 'tok', timeout: 2 ** 40 }],
    ['negative retry', { apiUrl: API, auth: 'tok', retry: -1 }],
    ['retry with unknown option', { apiUrl: API, auth: 'tok', retry: { methods: ['post'] } }],
    ['retry as a string', { apiUrl: API, auth: 'tok', retry: '2' }],
  ])('%s → invalid_argument', (_name, options) => {
    let error: unknown;
    try {
      createFeatApi(options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FeatValidationError);
    expect(error).toMatchObject({ code: 'invalid_argument' });
  });

  it('accepts explicit undefined for optional options (as the main client passes them)', () => {
    const accountsUrl: string | undefined = undefined;
    const fetch: typeof globalThis.fetch | undefined = undefined;
    expect(() => createFeatApi({ apiUrl: API, accountsUrl, auth: 'tok', fetch, timeout: undefined, retry: undefined })).not.toThrow();
  });

  it('documents its defaults in one place', () => {
    expect(API_DEFAULTS).toEqual({ timeout: 10_000, retryLimit: 2, backoffLimit: 3_000 });
    const client = createApiClient({ apiUrl: API, auth: 'tok' });
    expect(client.options.timeout).toBe(10_000);
    expect(client.options.retry).toEqual({ limit: 2, backoffLimit: 3_000 });
    expect(createApiClient({ apiUrl: API, auth: 'tok', retry: 5 }).options.retry).toEqual({ limit: 5, backoffLimit: 3_000 });
  });
});

describe('shared plumbing', () => {
  it('uses a custom fetch for every request (as client.api does)', async () => {
    server.use(
      http.get(COUNT, () => HttpResponse.json({ data: { count: 1 } })),
      http.get(`${ACCOUNTS}/couchdb/token/`, () =>
        HttpResponse.json({ data: { headers: { 'X-Auth-CouchDB-UserName': 'u', 'X-Auth-CouchDB-Token': 't' }, dbname: 'userdb-75' } }),
      ),
    );
    const seen: string[] = [];
    const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(input instanceof Request ? input.url : String(input));
      return globalThis.fetch(input, init);
    });
    const api = createFeatApi({ apiUrl: API, accountsUrl: ACCOUNTS, auth: 'tok', fetch });
    await api.activity.commentCount(q);
    await api.accounts.couchToken();
    expect(seen).toEqual([`${COUNT}?target_type=400`, `${ACCOUNTS}/couchdb/token/`]);
  });

  it('accepts an AuthSource shared with the rest of the SDK: a refresh is seen by both', async () => {
    let version = 1;
    let current = 'Bearer v1';
    const source: AuthSource = {
      get: vi.fn(async () => current),
      refresh: vi.fn(async () => (current = `Bearer v${++version}`)),
    };
    server.use(http.get(COUNT, ({ request }) => (request.headers.get('authorization') === 'Bearer v2' ? HttpResponse.json({ data: { count: 5 } }) : new HttpResponse(null, { status: 401 }))));
    const api = createFeatApi({ apiUrl: API, auth: source });
    await expect(api.activity.commentCount(q)).resolves.toBe(5);
    expect(source.refresh).toHaveBeenCalledTimes(1);
    expect(await source.get()).toBe('Bearer v2');
  });

  it('concurrent 401s share one refresh', async () => {
    let calls = 0;
    const auth = vi.fn(async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 10));
      return `Bearer t${calls}`;
    });
    server.use(http.get(COUNT, ({ request }) => (request.headers.get('authorization') === 'Bearer t2' ? HttpResponse.json({ data: { count: 1 } }) : new HttpResponse(null, { status: 401 }))));
    const api = createFeatApi({ apiUrl: API, auth, retry: fastRetry });
    await expect(Promise.all([api.activity.commentCount(q), api.activity.commentCount(q), api.activity.commentCount(q)])).resolves.toEqual([1, 1, 1]);
    expect(auth).toHaveBeenCalledTimes(2);
  });

  it('a failing auth provider → unauthorized with its error as cause, nothing sent, not retried', async () => {
    const boom = new Error('no session');
    const auth = vi.fn(() => {
      throw boom;
    });
    const error = await rejection(createFeatApi({ apiUrl: API, auth, retry: fastRetry }).activity.commentCount(q));
    expect(error).toMatchObject({ code: 'unauthorized' });
    expect(error.cause).toBe(boom);
    expect(auth).toHaveBeenCalledTimes(1);
    expect(requests).toHaveLength(0);
  });

  it('a bare token gets the Bearer scheme; Accept is JSON', async () => {
    server.use(http.get(COUNT, () => HttpResponse.json({ data: { count: 1 } })));
    await createFeatApi({ apiUrl: API, auth: 'abc' }).activity.commentCount(q);
    expect(requests[0]!.headers.get('authorization')).toBe('Bearer abc');
    expect(requests[0]!.headers.get('accept')).toContain('application/json');
  });

  it('the 401 retry does not eat into the retry limit; 5xx after it are still retried', async () => {
    let n = 0;
    let calls = 0;
    const auth = () => `Bearer t${++calls}`;
    server.use(
      http.get(COUNT, () => {
        n++;
        if (n === 1) return new HttpResponse(null, { status: 401 });
        if (n <= 3) return new HttpResponse(null, { status: 500 });
        return HttpResponse.json({ data: { count: 9 } });
      }),
    );
    await expect(createFeatApi({ apiUrl: API, auth, retry: fastRetry }).activity.commentCount(q)).resolves.toBe(9);
    expect(requests).toHaveLength(4);
  });

  it('Retry-After is honoured but capped by backoffLimit', async () => {
    let n = 0;
    server.use(http.get(COUNT, () => (++n === 1 ? new HttpResponse(null, { status: 503, headers: { 'Retry-After': '120' } }) : HttpResponse.json({ data: { count: 1 } }))));
    const started = Date.now();
    await expect(createFeatApi({ apiUrl: API, auth: 'tok', retry: { backoffLimit: 20 } }).activity.commentCount(q)).resolves.toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it.each([
    ['a negative Retry-After', { 'Retry-After': '-30' }],
    ['a Retry-After date gone by', { 'Retry-After': 'Wed, 21 Oct 2015 07:28:00 GMT' }],
    ['a RateLimit-Reset timestamp gone by', { 'X-RateLimit-Reset': String(Math.floor(Date.parse('2024-06-01') / 1000)) }],
  ])('503 with %s: retried after the usual backoff, not at once', async (_name, headers) => {
    const at: number[] = [];
    server.use(http.get(COUNT, () => (at.push(Date.now()), new HttpResponse(null, { status: 503, headers }))));
    const error = await rejection(createFeatApi({ apiUrl: API, auth: 'tok', retry: { limit: 2, backoffLimit: 5_000 } }).activity.commentCount(q));
    expect(error.code).toBe('server');
    expect(at).toHaveLength(3);
    // 300 ms, 600 ms (docs/api.md), jittered no lower than half.
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(100);
  });

  it('other 4xx are not retried and keep the server reason', async () => {
    server.use(http.get(COUNT, () => HttpResponse.json({ detail: 'target_type is not a valid choice' }, { status: 400 })));
    const error = await rejection(createFeatApi({ apiUrl: API, auth: 'tok', retry: fastRetry }).activity.commentCount(q));
    expect(error).toMatchObject({ status: 400, code: 'bad_response' });
    expect(error.message).toContain('target_type is not a valid choice');
    expect(requests).toHaveLength(1);
  });

  it('createApiClient exposes the ky-based request for unwrapped endpoints', async () => {
    server.use(http.get(`${API}/api/other/`, () => HttpResponse.json({ ok: true })));
    const client = createApiClient({ apiUrl: API, auth: 'tok' });
    const out = await client.request({ method: 'get', url: `${API}/api/other/`, parse: (body) => body as { ok: boolean } });
    expect(out).toEqual({ ok: true });
  });
});
