/**
 * The session layer (token, bootstrap, ready(), close()) against an auth provider that hangs and a hostile accounts
 * service or CouchDB (a local HTTP server), with the emulator where a real CouchDB is needed. Small requestTimeouts.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { emulatorOnly } from '../support/target.js';
import { failure, json, useHostileServer, type Handler } from '../support/hostile-server.js';

const emu = useEmulator({ profile: 'couchdb', peruserDelayMs: 800, peruserAdminOnlyMs: 800 });

let handler: Handler = (_req, res) => res.end('{}');
const clients: FeatClient[] = [];
const srv = useHostileServer(
  (req, res) => handler(req, res),
  () => Promise.allSettled(clients.map((c) => c.close())),
);

const make = (options: Partial<FeatClientOptions>): FeatClient => {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, mode: 'remote', requestTimeout: 300, ...options } as FeatClientOptions);
  clients.push(c);
  return c;
};
/** A client whose accounts service (and CouchDB) is the hostile server. */
const hostile = (options: Partial<FeatClientOptions> = {}) => make({ couchUrl: srv.url, accountsUrl: srv.url, auth: 'Bearer x', ...options });

const never = () => new Promise<string>(() => undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('an auth provider that does not answer', () => {
  it('ready() → timeout after about requestTimeout', async () => {
    const { error, ms } = await failure(make({ auth: never }).ready());
    expect(error.code).toBe('timeout');
    expect(ms).toBeLessThan(2_000);
  });

  it('ready({ signal }) aborted → aborted', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    expect((await failure(make({ auth: never, requestTimeout: 5_000 }).ready({ signal: ac.signal }))).error.code).toBe('aborted');
  });

  it('close() ends a pending ready(), store.get() and client.api call → closed', async () => {
    const c = make({ auth: never, requestTimeout: 5_000, apiUrl: srv.url });
    const ready = c.ready();
    const get = c.store.get('k');
    const call = c.api!.activity.commentCount({ target_type: 400 });
    await sleep(100);
    await c.close();
    for (const p of [ready, get, call]) expect((await failure(p, 1_000)).error.code).toBe('closed');
  });

  it('a provider call that timed out is not cached: the next ready() asks again and works', async () => {
    const user = uniqueUser('hung');
    let asked = 0;
    const c = make({ auth: () => (++asked === 1 ? never() : emu.bearerFor(user)), requestTimeout: 1_000 });
    expect((await failure(c.ready())).error.code).toBe('timeout');
    await expect(c.ready()).resolves.toMatchObject({ userName: user });
    expect(asked).toBe(2);
  });
});

describe('ready() ended by close()', () => {
  for (const mode of ['remote', 'local-first'] as const) {
    // The real server makes the database in 5–60 ms: the wait closed here is the emulator's widened window.
    emulatorOnly('peruserDelayMs: a per-user database that appears 800 ms late')(`${mode}: close() while bootstrap waits for the new per-user database → closed; sync.status stays paused`, async () => {
      const c = make({ auth: emu.bearerFor(uniqueUser('rc')), mode, requestTimeout: 2_000, local: { adapter: 'memory' } } as Partial<FeatClientOptions>);
      const ready = c.ready();
      ready.catch(() => undefined);
      await sleep(400);
      await c.close();
      expect((await failure(ready, 2_000)).error.code).toBe('closed');
      await sleep(50);
      expect(c.sync.status).toBe('paused');
    });
  }
});

describe('token answers', () => {
  it('a token body trickling a byte every 100 ms → timeout after about requestTimeout', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data":');
      const t = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(t));
    };
    const { error, ms } = await failure(hostile().ready());
    expect(error.code).toBe('timeout');
    expect(ms).toBeLessThan(2_000);
  });

  it('an endless token body sent fast → bad_response once 4 MiB were read', async () => {
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
    const { error } = await failure(hostile({ requestTimeout: 5_000 }).ready(), 8_000);
    expect(error.code).toBe('bad_response');
    expect(sent * 256).toBeLessThan(40 * 1024);
  });

  for (const [name, value] of [
    ['Transfer-Encoding', 'chunked'],
    ['Content-Length', '0'],
    ['Host', 'evil.example'],
    ['X Bad', '1'],
  ] as const) {
    it(`a token with a "${name}" header fetch cannot send → bad_response, naming no value`, async () => {
      handler = (_req, res) =>
        json(res, 200, { data: { headers: { 'X-Auth-CouchDB-UserName': 'u', 'X-Auth-CouchDB-Token': 'tok-secret', [name]: value }, dbname: 'userdb-75' } });
      const { error } = await failure(hostile().ready());
      expect(error.code).toBe('bad_response');
      expect(error.message).not.toContain('tok-secret');
      expect(error.message).not.toContain(value);
    });
  }
});

describe('bootstrap answers', () => {
  it('the database check answers 403 and its body trickles → timeout after about requestTimeout', async () => {
    const user = 'trickle1';
    handler = (req, res) => {
      if (req.url?.startsWith('/couchdb/token/')) {
        return json(res, 200, { data: { headers: { 'X-Auth-CouchDB-UserName': user, 'X-Auth-CouchDB-Token': 'abc' }, dbname: `userdb-${Buffer.from(user).toString('hex')}` } });
      }
      res.writeHead(403, { 'content-type': 'application/json' });
      res.write('{"error":"forbidden",');
      const t = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(t));
    };
    const { error, ms } = await failure(hostile().ready());
    expect(error.code).toBe('timeout');
    expect(ms).toBeLessThan(2_500);
  });
});
