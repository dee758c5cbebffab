import { http, HttpResponse, delay } from 'msw';
import { describe, expect, it, vi } from 'vitest';
import { createAccountsClient, createFeatApi, FeatValidationError } from '@feat/sdk/api';
import { ACCOUNTS, API, fastRetry, rejection, useMsw } from './msw.js';

const { server, requests } = useMsw();
const PATH = `${ACCOUNTS}/couchdb/token/`;
const api = (extra: Record<string, unknown> = {}) =>
  createFeatApi({ apiUrl: API, accountsUrl: ACCOUNTS, auth: 'Bearer qAg3jdtuCUB4dWuc8d5pD81PnpCqUX', retry: fastRetry, ...extra });

/** The seed's example body. */
const seedToken = {
  data: {
    headers: {
      'X-Auth-CouchDB-UserName': '4222704093994',
      'X-Auth-CouchDB-Token': '2197693d9ab1c56bf45633f6326d0078d670fd1d',
    },
    dbname: 'userdb-34323232373034303933393934',
  },
};

describe('accounts.couchToken', () => {
  it('GETs {accountsUrl}/couchdb/token/ with Authorization and returns {headers, dbname}', async () => {
    server.use(http.get(PATH, () => HttpResponse.json(seedToken)));
    await expect(api().accounts.couchToken()).resolves.toEqual(seedToken.data);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.headers.get('authorization')).toBe('Bearer qAg3jdtuCUB4dWuc8d5pD81PnpCqUX');
  });

  it('createAccountsClient works without apiUrl', async () => {
    server.use(http.get(PATH, () => HttpResponse.json(seedToken)));
    const accounts = createAccountsClient({ accountsUrl: `${ACCOUNTS}/`, auth: 'tok' });
    await expect(accounts.couchToken()).resolves.toEqual(seedToken.data);
    expect(requests[0]!.headers.get('authorization')).toBe('Bearer tok');
    expect(() => createAccountsClient({ auth: 'tok' } as never)).toThrow(FeatValidationError);
  });

  it('without accountsUrl → invalid_argument, nothing sent', async () => {
    const error = await rejection(createFeatApi({ apiUrl: API, auth: 'tok' }).accounts.couchToken());
    expect(error).toBeInstanceOf(FeatValidationError);
    expect(error.code).toBe('invalid_argument');
    expect(requests).toHaveLength(0);
  });

  it('404 → not_found', async () => {
    server.use(http.get(PATH, () => new HttpResponse(null, { status: 404 })));
    await expect(api().accounts.couchToken()).rejects.toMatchObject({ code: 'not_found', status: 404, url: PATH });
  });

  it('401 → refresh and retry once', async () => {
    let calls = 0;
    const auth = vi.fn(() => `Bearer t${++calls}`);
    server.use(http.get(PATH, ({ request }) => (request.headers.get('authorization') === 'Bearer t2' ? HttpResponse.json(seedToken) : new HttpResponse(null, { status: 401 }))));
    await expect(api({ auth }).accounts.couchToken()).resolves.toEqual(seedToken.data);
    expect(auth).toHaveBeenCalledTimes(2);
  });

  it('401 twice → unauthorized', async () => {
    server.use(http.get(PATH, () => new HttpResponse(null, { status: 401 })));
    await expect(api().accounts.couchToken()).rejects.toMatchObject({ code: 'unauthorized', status: 401, url: PATH });
    expect(requests).toHaveLength(2);
  });

  it('5xx → retried, then succeeds', async () => {
    let n = 0;
    server.use(http.get(PATH, () => (++n < 3 ? new HttpResponse(null, { status: 500 }) : HttpResponse.json(seedToken))));
    await expect(api().accounts.couchToken()).resolves.toEqual(seedToken.data);
    expect(requests).toHaveLength(3);
  });

  it('malformed JSON → bad_response', async () => {
    server.use(http.get(PATH, () => new HttpResponse('{data:', { headers: { 'content-type': 'application/json' } })));
    await expect(api().accounts.couchToken()).rejects.toMatchObject({ code: 'bad_response', status: 200, url: PATH });
  });

  it.each([
    ['unwrapped', seedToken.data],
    ['no dbname', { data: { headers: seedToken.data.headers } }],
    ['no token header', { data: { ...seedToken.data, headers: { 'X-Auth-CouchDB-UserName': '4222704093994' } } }],
    ['a numeric header', { data: { ...seedToken.data, headers: { ...seedToken.data.headers, 'X-Auth-CouchDB-UserName': 4222704093994 } } }],
  ])('wrong shape (%s) → bad_response with status and url', async (_name, body) => {
    server.use(http.get(PATH, () => HttpResponse.json(body)));
    const error = await rejection(api().accounts.couchToken());
    expect(error).toMatchObject({ code: 'bad_response', status: 200, url: PATH });
    expect(error.message).toContain('accounts.couchToken');
  });

  it('timeout → timeout', async () => {
    server.use(
      http.get(PATH, async () => {
        await delay(2_000);
        return HttpResponse.json(seedToken);
      }),
    );
    await expect(api().accounts.couchToken({ timeout: 40 })).rejects.toMatchObject({ code: 'timeout', url: PATH });
  });

  it('abort → aborted', async () => {
    server.use(
      http.get(PATH, async () => {
        await delay('infinite');
        return HttpResponse.json(seedToken);
      }),
    );
    const controller = new AbortController();
    const pending = api().accounts.couchToken({ signal: controller.signal });
    setTimeout(() => controller.abort('stop'), 20);
    const error = await rejection(pending);
    expect(error).toMatchObject({ code: 'aborted' });
    expect(error.cause).toBe('stop');
  });

  it('invalid call options → invalid_argument, nothing sent', async () => {
    await expect(api().accounts.couchToken({ signal: 'x' as never })).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(requests).toHaveLength(0);
  });
});
