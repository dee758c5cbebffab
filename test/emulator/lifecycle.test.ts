/** Options, suspend/resume/stop, the request log, isolation between instances, on-disk data. */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import PouchDB from 'pouchdb-core';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, startEmulator, userDbName } from '@feat/emulator';
import type { Emulator, EmulatorOptions } from '@feat/emulator';
import { call, couch, signUp, sleep, unique } from './helpers.js';

const require = createRequire(import.meta.url);
PouchDB.plugin(require('pouchdb-adapter-memory') as PouchDB.Plugin);

const started: Emulator[] = [];
async function start(options: EmulatorOptions = {}): Promise<Emulator> {
  const emu = await startEmulator({ peruserDelayMs: 0, ...options });
  started.push(emu);
  return emu;
}
afterAll(async () => {
  await Promise.all(started.map((e) => e.stop()));
});

describe('options', () => {
  it('rejects non-objects with a TypeError and bad values with clear errors', async () => {
    await expect(startEmulator(42 as unknown as EmulatorOptions)).rejects.toThrow(TypeError);
    await expect(startEmulator(null as unknown as EmulatorOptions)).rejects.toThrow(/options must be an object/);
    await expect(startEmulator({ port: -1 })).rejects.toThrow(/"port"/);
    await expect(startEmulator({ port: 1.5 })).rejects.toThrow(/"port"/);
    await expect(startEmulator({ maxRequestBytes: -5 })).rejects.toThrow(/"maxRequestBytes"/);
    await expect(startEmulator({ maxDocumentBytes: 0 })).rejects.toThrow(/"maxDocumentBytes"/);
    await expect(startEmulator({ peruserDelayMs: Number.NaN })).rejects.toThrow(/"peruserDelayMs"/);
    await expect(startEmulator({ secret: '' })).rejects.toThrow(/"secret"/);
    await expect(startEmulator({ log: 'yes' as unknown as boolean })).rejects.toThrow(/"log"/);
    await expect(startEmulator({ prot: 1 } as unknown as EmulatorOptions)).rejects.toThrow(/unknown option "prot"/);
  });

  it('documents its defaults in one place', () => {
    expect(DEFAULTS).toEqual({ port: 0, host: '127.0.0.1', maxDocumentBytes: 8_000_000, maxRequestBytes: 1_048_576, peruserDelayMs: 50, log: false, profile: 'emulator', maxRequestRecords: 10_000 });
  });

  it("profile 'fast' (API.md's name) is the default profile: accepted, lenient and quick", async () => {
    const emu = await start({ profile: 'fast' });
    expect(emu.profile).toBe('fast');
    const db = await signUp(emu, 'fast-user');
    // No admin-only window after sign-up (the couchdb profile draws one): the user's database answers at once.
    expect((await couch(emu, 'fast-user', `/${db}/k`, { method: 'PUT', body: { v: 1 } })).status).toBe(201);
  });

  it('three services on three free ports; URLs without trailing slashes', async () => {
    const emu = await start();
    const urls = [emu.couchUrl, emu.accountsUrl, emu.apiUrl];
    for (const url of urls) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new Set(urls).size).toBe(3);
    expect(emu.couchUrl).toBe(`http://127.0.0.1:${emu.ports.couch}`);
  });
});

describe('suspend() / resume() / stop()', () => {
  it('suspend refuses connections and keeps data; resume listens on the same ports', async () => {
    const emu = await start();
    const db = await signUp(emu, 'alice');
    expect((await couch(emu, 'alice', `/${db}/kept`, { method: 'PUT', body: { v: 1 } })).status).toBe(201);
    const ports = { ...emu.ports };

    await emu.suspend();
    expect(emu.suspended).toBe(true);
    for (const url of [emu.couchUrl, emu.accountsUrl, emu.apiUrl]) {
      await expect(fetch(`${url}/`)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
    }

    await emu.resume();
    expect(emu.suspended).toBe(false);
    expect(emu.ports).toEqual(ports);
    expect((await couch(emu, 'alice', `/${db}/kept`)).json).toMatchObject({ _id: 'kept', v: 1 });
  });

  it('resume waits for a port the system lent meanwhile (EADDRINUSE), then listens on it again', async () => {
    const emu = await start();
    const db = await signUp(emu, 'bob');
    const ports = { ...emu.ports };
    await emu.suspend();
    // Something else holds the CouchDB port for a moment (as an outgoing connection's local port may).
    const { createServer } = await import('node:net');
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(ports.couch, '127.0.0.1', resolve));
    const resumed = emu.resume();
    await sleep(600);
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    await resumed;
    expect(emu.ports).toEqual(ports);
    expect((await couch(emu, 'bob', `/${db}`)).status).toBe(200);
  });

  it('suspend cuts open long-polls and continuous feeds', async () => {
    const emu = await start();
    const db = await signUp(emu, 'alice');
    const headers = emu.couchHeadersFor('alice');
    // Outcomes are captured at once, so the cut-off is never an unhandled rejection.
    const outcome = (url: string) =>
      fetch(url, { headers }).then(
        (r) => r.text().then(() => 'completed', () => 'cut'),
        () => 'cut',
      );
    const longpoll = outcome(`${emu.couchUrl}/${db}/_changes?feed=longpoll&since=now&heartbeat=1000`);
    const continuous = outcome(`${emu.couchUrl}/${db}/_changes?feed=continuous&heartbeat=1000`);
    await sleep(100);
    await emu.suspend();
    expect(await longpoll).toBe('cut');
    expect(await continuous).toBe('cut');
    await emu.resume();
  });

  it('stop frees everything and is idempotent', async () => {
    const emu = await startEmulator();
    const url = emu.couchUrl;
    await Promise.all([emu.stop(), emu.stop()]);
    await emu.stop();
    await expect(fetch(url)).rejects.toThrow();
    await expect(emu.resume()).rejects.toThrow(/stopped/);
  });

  it('a fixed port can be reused after stop', async () => {
    const first = await startEmulator();
    const port = first.ports.couch;
    await first.stop();
    const second = await start({ port, accountsPort: 0, apiPort: 0 });
    expect(second.couchUrl).toBe(`http://127.0.0.1:${port}`);
  });
});

describe('request log', () => {
  it('records service, method, path, status and bytes; stats() sums them; resetRequests() clears', async () => {
    const emu = await start();
    const db = await signUp(emu, 'alice');
    emu.resetRequests();
    expect(emu.requests).toEqual([]);
    await couch(emu, 'alice', `/${db}/doc?x=1`, { method: 'PUT', body: { v: 12345 } });
    await call(`${emu.apiUrl}/api/activity/comment/comment_count/?target_type=400`);

    const couchPut = emu.requests.find((r) => r.service === 'couch');
    expect(couchPut).toMatchObject({ service: 'couch', method: 'PUT', path: `/${db}/doc`, status: 201, bytesIn: 11, completed: true });
    expect(couchPut?.bytesOut).toBeGreaterThan(10);
    expect(couchPut?.at).toBeGreaterThan(Date.now() - 10_000);
    expect(emu.requests.map((r) => `${r.service} ${r.status}`)).toEqual(['accounts 200', 'couch 201', 'api 401']);

    const stats = emu.stats();
    expect(stats.requests).toBe(3);
    expect(stats.byService.couch.requests).toBe(1);
    expect(stats.byService.couch.bytesIn).toBe(11);
    expect(stats.byStatus).toEqual({ '200': 1, '201': 1, '401': 1 });
    expect(stats.bytesOut).toBe(emu.requests.reduce((n, r) => n + r.bytesOut, 0));
    emu.resetRequests();
    expect(emu.stats().requests).toBe(0);
  });

  it('log lines never contain tokens, bearers or the secret', async () => {
    const lines: string[] = [];
    const emu = await start({ log: (line) => lines.push(line) });
    await signUp(emu, 'alice');
    emu.rotateSecret();
    await couch(emu, 'alice', `/${userDbName('alice')}`);
    await emu.suspend();
    await emu.resume();
    expect(lines.some((l) => l.startsWith('[couch] PUT /_users/org.couchdb.user:alice 201'))).toBe(true);
    const text = lines.join('\n');
    const bare = emu.bearerFor('alice').slice('Bearer '.length);
    for (const secret of [emu.secret, bare, emu.couchHeadersFor('alice')['X-Auth-CouchDB-Token']]) expect(text).not.toContain(secret);
  });
});

describe('isolation', () => {
  it('two emulators in one process share nothing', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const db = await signUp(a, 'alice');
    await couch(a, 'alice', `/${db}/only-a`, { method: 'PUT', body: {} });
    expect((await couch(b, 'alice', `/${db}`)).status).toBe(404);
    await signUp(b, 'alice');
    expect((await couch(b, 'alice', `/${db}/only-a`)).status).toBe(404);
  });

  it('a client memory database named like the user database is not the server copy', async () => {
    const emu = await start();
    const name = userDbName(unique('carol'));
    const local = new PouchDB(name, { adapter: 'memory' });
    await local.put({ _id: 'local-only' });
    // The emulator does not see the client's database (not even as existing) …
    const user = Buffer.from(name.slice('userdb-'.length), 'hex').toString('utf8');
    expect((await couch(emu, user, `/${name}`)).status).toBe(404);
    await signUp(emu, user);
    expect((await couch(emu, user, `/${name}/local-only`)).status).toBe(404);
    // … and the client's database is untouched by the server's.
    await couch(emu, user, `/${name}/server-only`, { method: 'PUT', body: {} });
    await expect(local.get('server-only')).rejects.toMatchObject({ status: 404 });
    await local.destroy();
  });
});

describe('dataDir', () => {
  it('keeps users, databases and documents across restarts with the same secret', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'feat-emu-'));
    try {
      const first = await startEmulator({ dataDir: dir, secret: 's3cret', peruserDelayMs: 0 });
      const bearer = first.bearerFor('alice');
      const db = await signUp(first, 'alice');
      await couch(first, 'alice', `/${db}/persisted`, { method: 'PUT', body: { v: 1 } });
      await first.stop();

      const second = await startEmulator({ dataDir: dir, secret: 's3cret' });
      try {
        const token = await call(`${second.accountsUrl}/couchdb/token/`, { headers: { Authorization: bearer } });
        expect(token.status).toBe(200);
        expect((await couch(second, 'alice', `/${db}/persisted`)).json).toMatchObject({ v: 1 });
        expect((await couch(second, 'alice', '/_users/create-new-user', { method: 'POST' })).status).toBe(409);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
