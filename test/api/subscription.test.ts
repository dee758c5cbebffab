import { inspect } from 'node:util';
import { http, HttpResponse, delay } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { createFeatApi, FeatHttpError, FeatValidationError, type Subscription } from '@feat/sdk/api';
import { API, fastRetry, rejection, useMsw } from './msw.js';

const { server, requests } = useMsw();
const PATH = `${API}/api/subscription/user-subscription/fetch/`;

/** The seed's example, verbatim. */
const seedSubscription: Subscription = {
  id: 47,
  user: 7815769374283,
  followed_user: 3120595892220,
  followed_category: null,
  apply_scene: null,
  subscription_type: 'follow_user',
  created_at: '2022-01-10T08:52:58.425956Z',
  updated_at: '2022-01-10T08:52:58.425387Z',
  entity_type: 100,
};
const query = { subscription_type: 'follow_user', followed_user: 3120595892220, entity_type: 100 } as const;
const api = (extra: Record<string, unknown> = {}) => createFeatApi({ apiUrl: API, auth: 'Bearer tok', retry: fastRetry, ...extra });

describe('subscription.fetch', () => {
  it('sends the query as URL parameters and returns the subscription with 13-digit ids as exact numbers', async () => {
    server.use(http.get(PATH, () => HttpResponse.json(seedSubscription)));
    const sub = await api().subscription.fetch(query);
    expect(sub).toEqual(seedSubscription);
    expect(sub?.user).toBe(7815769374283);
    expect(Number.isSafeInteger(sub?.followed_user)).toBe(true);
    expect(requests).toHaveLength(1);
    const url = new URL(requests[0]!.url);
    expect(url.pathname).toBe('/api/subscription/user-subscription/fetch/');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      subscription_type: 'follow_user',
      followed_user: '3120595892220',
      entity_type: '100',
    });
    expect(requests[0]!.headers.get('authorization')).toBe('Bearer tok');
  });

  it('keeps a path prefix of apiUrl', async () => {
    server.use(http.get(`${API}/v1/api/subscription/user-subscription/fetch/`, () => HttpResponse.json(seedSubscription)));
    await expect(api({ apiUrl: `${API}/v1/` }).subscription.fetch(query)).resolves.toEqual(seedSubscription);
  });

  it('404 → null (not subscribed)', async () => {
    server.use(http.get(PATH, () => HttpResponse.json({ detail: 'Not found.' }, { status: 404 })));
    await expect(api().subscription.fetch(query)).resolves.toBeNull();
    expect(requests).toHaveLength(1);
  });

  it('401 → asks the auth provider again and retries once with the new value', async () => {
    let calls = 0;
    const auth = vi.fn(() => `token-${++calls}`);
    server.use(
      http.get(PATH, ({ request }) =>
        request.headers.get('authorization') === 'Bearer token-2'
          ? HttpResponse.json(seedSubscription)
          : new HttpResponse(null, { status: 401 }),
      ),
    );
    await expect(api({ auth }).subscription.fetch(query)).resolves.toEqual(seedSubscription);
    expect(auth).toHaveBeenCalledTimes(2);
    expect(requests.map((r) => r.headers.get('authorization'))).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('401 twice → unauthorized, with status and url but no credentials', async () => {
    const auth = vi.fn(() => 'Bearer secret-value');
    server.use(http.get(PATH, () => HttpResponse.json({ detail: 'Invalid token.' }, { status: 401 })));
    const error = await rejection(api({ auth }).subscription.fetch(query));
    expect(error).toBeInstanceOf(FeatHttpError);
    expect(error).toMatchObject({ code: 'unauthorized', status: 401 });
    expect(String(error.url)).toContain('/api/subscription/user-subscription/fetch/?');
    expect(error.cause).toBeDefined();
    expect(requests).toHaveLength(2);
    expect(auth).toHaveBeenCalledTimes(2);
    expect(JSON.stringify({ m: error.message, u: error.url })).not.toContain('secret-value');
    const cause = error.cause as { request?: Request };
    expect(cause.request?.headers.get('authorization') ?? null).toBeNull();
    expect(inspect(error, { depth: 20, showHidden: true })).not.toContain('secret-value');
  });

  it('5xx → retried (GET), then succeeds', async () => {
    let n = 0;
    server.use(http.get(PATH, () => (++n < 3 ? new HttpResponse('oops', { status: 503 }) : HttpResponse.json(seedSubscription))));
    await expect(api().subscription.fetch(query)).resolves.toEqual(seedSubscription);
    expect(requests).toHaveLength(3);
    expect(requests.map((r) => r.headers.get('authorization'))).toEqual(['Bearer tok', 'Bearer tok', 'Bearer tok']);
  });

  it('5xx every time → server, after limit + 1 attempts', async () => {
    server.use(http.get(PATH, () => new HttpResponse('<html>bad gateway</html>', { status: 502 })));
    const error = await rejection(api().subscription.fetch(query));
    expect(error).toMatchObject({ code: 'server', status: 502 });
    expect(requests).toHaveLength(3);
  });

  it('network failures are retried, then → network', async () => {
    server.use(http.get(PATH, () => HttpResponse.error()));
    const error = await rejection(api().subscription.fetch(query));
    expect(error).toMatchObject({ code: 'network' });
    expect(error.cause).toBeDefined();
    expect(requests).toHaveLength(3);
  });

  it('403 → forbidden, not retried', async () => {
    server.use(http.get(PATH, () => HttpResponse.json({ detail: 'nope' }, { status: 403 })));
    const error = await rejection(api().subscription.fetch(query));
    expect(error).toMatchObject({ code: 'forbidden', status: 403 });
    expect(error.message).toContain('nope');
    expect(requests).toHaveLength(1);
  });

  it('malformed JSON → bad_response', async () => {
    server.use(http.get(PATH, () => new HttpResponse('{"id": 47,', { headers: { 'content-type': 'application/json' } })));
    const error = await rejection(api().subscription.fetch(query));
    expect(error).toMatchObject({ code: 'bad_response', status: 200 });
    expect(String(error.url)).toContain(PATH);
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it.each([
    ['an id as a string', { ...seedSubscription, user: '7815769374283' }],
    ['a missing field', { ...seedSubscription, created_at: undefined }],
    ['a fractional id', { ...seedSubscription, id: 4.7 }],
    ['an array', [seedSubscription]],
    ['a wrapped body', { data: seedSubscription }],
  ])('wrong shape (%s) → bad_response', async (_name, body) => {
    server.use(http.get(PATH, () => HttpResponse.json(body)));
    const error = await rejection(api().subscription.fetch(query));
    expect(error).toMatchObject({ code: 'bad_response', status: 200 });
    expect(error.cause).toBeDefined();
  });

  it('timeout → timeout', async () => {
    server.use(
      http.get(PATH, async () => {
        await delay(2_000);
        return HttpResponse.json(seedSubscription);
      }),
    );
    const started = Date.now();
    const error = await rejection(api().subscription.fetch(query, { timeout: 50 }));
    expect(error).toMatchObject({ code: 'timeout' });
    expect(String(error.url)).toContain(PATH);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('abort → aborted with the signal reason as cause', async () => {
    server.use(
      http.get(PATH, async () => {
        await delay('infinite');
        return HttpResponse.json(seedSubscription);
      }),
    );
    const controller = new AbortController();
    const reason = new Error('user left the page');
    const pending = api().subscription.fetch(query, { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 20);
    const error = await rejection(pending);
    expect(error).toMatchObject({ code: 'aborted' });
    expect(error.cause).toBe(reason);
  });

  it('an already aborted signal → aborted, no request', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(api().subscription.fetch(query, { signal: controller.signal }));
    expect(error).toMatchObject({ code: 'aborted' });
    expect(requests).toHaveLength(0);
  });

  it.each([
    ['no target', { subscription_type: 'follow_user' }],
    ['no subscription_type', { followed_user: 3120595892220 }],
    ['an id as a string', { subscription_type: 'follow_user', followed_user: '3120595892220' }],
    ['a negative id', { subscription_type: 'follow_user', followed_user: -1 }],
    ['an unsafe id', { subscription_type: 'follow_user', followed_user: 2 ** 53 }],
    ['a camelCase field', { subscription_type: 'follow_user', followedUser: 1 }],
    ['null', null],
    ['a string', 'follow_user'],
  ])('invalid input (%s) → invalid_argument, nothing sent', async (_name, input) => {
    const error = await rejection(api().subscription.fetch(input as never));
    expect(error).toBeInstanceOf(FeatValidationError);
    expect(error).toMatchObject({ code: 'invalid_argument' });
    expect(requests).toHaveLength(0);
  });

  it('invalid call options → rejects before sending', async () => {
    await expect(api().subscription.fetch(query, { timeout: -1 })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(api().subscription.fetch(query, 'fast' as never)).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(requests).toHaveLength(0);
  });
});
