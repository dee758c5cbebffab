/**
 * `createFeatApi` against a hostile local HTTP server: fixes for an auth provider that hangs, error bodies that stall,
 * credentials in URLs, endless bodies and bodies that do not decode. Every case is bounded by a small `timeout`.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createFeatApi } from '@feat/sdk/api';
import type { FeatError } from '@feat/sdk';
import { failure, json, useHostileServer, type Handler } from '../support/hostile-server.js';

let handler: Handler = (_req, res) => res.end('{}');
const srv = useHostileServer((req, res) => handler(req, res));
const countOk = () => (handler = (_req, res) => json(res, 200, { data: { count: 7 } }));

const never = () => new Promise<string>(() => undefined);

describe('an auth provider that does not answer', () => {
  it('is bounded by the call timeout → timeout, without sending anything', async () => {
    countOk();
    const before = srv.requests;
    const api = createFeatApi({ apiUrl: srv.url, auth: never, retry: 0, timeout: 5_000 });
    const { error, ms } = await failure(api.activity.commentCount({ target_type: 400 }, { timeout: 200 }));
    expect(error.code).toBe('timeout');
    expect(ms).toBeLessThan(2_000);
    expect(srv.requests).toBe(before);
  });

  it('is bounded by the client timeout when the call has none', async () => {
    countOk();
    const api = createFeatApi({ apiUrl: srv.url, auth: never, retry: 0, timeout: 200 });
    const { error } = await failure(api.activity.commentCount({ target_type: 400 }));
    expect(error.code).toBe('timeout');
  });

  it("is ended by the call's signal → aborted", async () => {
    countOk();
    const api = createFeatApi({ apiUrl: srv.url, auth: never, retry: 0, timeout: 5_000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const { error, ms } = await failure(api.activity.commentCount({ target_type: 400 }, { signal: ac.signal }));
    expect(error.code).toBe('aborted');
    expect(ms).toBeLessThan(2_000);
  });

  it("is ended by the client's signal (its FeatError reason)", async () => {
    countOk();
    const client = new AbortController();
    const api = createFeatApi({ apiUrl: srv.url, auth: never, retry: 0, timeout: 5_000, signal: client.signal });
    setTimeout(() => client.abort(), 100);
    const { error } = await failure(api.activity.commentCount({ target_type: 400 }));
    expect(error.code).toBe('aborted');
  });

  it('a refresh after a 401 that hangs: the call ends (signal → aborted), and is bounded by timeout', async () => {
    handler = (req, res) => (req.headers.authorization === 'Bearer two' ? json(res, 200, { data: { count: 7 } }) : json(res, 401, { detail: 'no' }));
    let asked = 0;
    const api = createFeatApi({ apiUrl: srv.url, retry: 0, timeout: 300, auth: () => (++asked === 1 ? 'one' : never()) });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    expect((await failure(api.activity.commentCount({ target_type: 400 }, { signal: ac.signal }))).error.code).toBe('aborted');
    // The same hung refresh, now without a signal: the call's timeout.
    expect((await failure(api.activity.commentCount({ target_type: 400 }))).error.code).toBe('timeout');
  });

  it('a provider call that timed out is not cached: the next call asks again and works', async () => {
    handler = (req, res) => (req.headers.authorization === 'Bearer two' ? json(res, 200, { data: { count: 7 } }) : json(res, 401, { detail: 'no' }));
    let asked = 0;
    const api = createFeatApi({
      apiUrl: srv.url,
      retry: 0,
      timeout: 300,
      auth: () => {
        asked++;
        return asked === 1 ? never() : 'two';
      },
    });
    expect((await failure(api.activity.commentCount({ target_type: 400 }))).error.code).toBe('timeout');
    await expect(api.activity.commentCount({ target_type: 400 })).resolves.toBe(7);
    expect(asked).toBe(2);
  });
});

describe('error answers whose body stalls', () => {
  const stall = (status: number) =>
    (handler = (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.write('{"detail":');
    });

  for (const status of [403, 500]) {
    it(`${status} + a body that never ends → its status code within the timeout`, async () => {
      stall(status);
      const api = createFeatApi({ apiUrl: srv.url, auth: 'Bearer x', retry: 0 });
      const { error, ms } = await failure(api.activity.commentCount({ target_type: 400 }, { timeout: 300 }));
      expect(error.status).toBe(status);
      expect(error.code).toBe(status === 403 ? 'forbidden' : 'server');
      expect(ms).toBeLessThan(2_000);
    });
  }

  it('a signal aborted while a 403 body stalls → aborted (not the status)', async () => {
    stall(403);
    const api = createFeatApi({ apiUrl: srv.url, auth: 'Bearer x', retry: 0, timeout: 5_000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const { error, ms } = await failure(api.weixin.sign({ url: 'https://m.feat.com/p/1' }, { signal: ac.signal }));
    expect(error.code).toBe('aborted');
    expect(ms).toBeLessThan(2_000);
  });
});

describe('credentials in URLs', () => {
  for (const option of ['apiUrl', 'accountsUrl'] as const) {
    it(`${option} with user:password@ → invalid_argument at creation, the password nowhere`, () => {
      const withCreds = srv.url.replace('http://', 'http://alice:pa55w0rd@');
      let thrown: unknown;
      try {
        createFeatApi({ apiUrl: srv.url, auth: 'Bearer x', [option]: withCreds });
      } catch (e) {
        thrown = e;
      }
      expect((thrown as FeatError | undefined)?.code).toBe('invalid_argument');
      expect(inspect(thrown, { depth: 10, showHidden: true })).not.toContain('pa55w0rd');
    });
  }

  it('a URL that is not http(s) does not repeat its credentials either', () => {
    let thrown: unknown;
    try {
      createFeatApi({ apiUrl: 'ftp://alice:pa55w0rd@example.com', auth: 'Bearer x' });
    } catch (e) {
      thrown = e;
    }
    expect((thrown as FeatError | undefined)?.code).toBe('invalid_argument');
    expect(inspect(thrown, { depth: 10, showHidden: true })).not.toContain('pa55w0rd');
  });
});

describe('bodies', () => {
  it('an endless body sent fast → bad_response once 4 MiB were read, quickly', async () => {
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    let sent = 0;
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data":');
      const pump = () => {
        while (sent < 400 && !res.destroyed && res.write(chunk)) sent++;
        if (sent >= 400) res.destroy();
      };
      res.on('drain', () => {
        sent++;
        pump();
      });
      pump();
    };
    const api = createFeatApi({ apiUrl: srv.url, auth: 'Bearer x', retry: 0, timeout: 5_000 });
    const { error } = await failure(api.activity.commentCount({ target_type: 400 }), 8_000);
    expect(error.code).toBe('bad_response');
    expect(error.message).toMatch(/larger than/);
    // Stopped reading near the limit (100 MB would have been sent otherwise).
    expect(sent * 256).toBeLessThan(40 * 1024);
  });

  it('a body with an invalid gzip encoding → bad_response, not network', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(Buffer.from('this is not gzip at all'));
    };
    const api = createFeatApi({ apiUrl: srv.url, auth: 'Bearer x', retry: 0 });
    const { error } = await failure(api.activity.commentCount({ target_type: 400 }));
    expect(error.code).toBe('bad_response');
  });

  it('a connection cut mid-body is still network', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"data":');
      setTimeout(() => res.destroy(), 20);
    };
    const api = createFeatApi({ apiUrl: srv.url, auth: 'Bearer x', retry: 0 });
    const { error } = await failure(api.activity.commentCount({ target_type: 400 }));
    expect(error.code).toBe('network');
  });
});
