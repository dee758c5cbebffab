/**
 * Chunk garbage collection from a replica that does not know everything the server has: offline, its catch-up pull
 * cut short, or a write of another client not pulled yet. Such a replica lacks manifests that refer to chunks it found
 * unreferenced; its deletions, pushed later, used to win over the chunks of another device's acknowledged big value,
 * which then read `not_found` everywhere. Collection now happens only while the pull is caught up, deletes on the
 * server directly, and spares chunks a server change since the replica's sequence refers to.
 */
import { createServer, connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { startFaultProxy } from '../support/fault-proxy.js';
import { sleep, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const V = text(600_000, 11);

/** A TCP cable to the server: `down = true` destroys every connection and refuses new ones (a device offline). */
async function cable(target: string): Promise<{ url: string; set(down: boolean): void; close(): void }> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  let down = false;
  const server = createServer((client) => {
    if (down) return client.destroy();
    const upstream = connect(Number(t.port), t.hostname);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    sockets.add(client).add(upstream);
    for (const s of [client, upstream]) s.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}${t.pathname === '/' ? '' : t.pathname}`,
    set(value) {
      down = value;
      if (value) for (const s of sockets) s.destroy();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

const options = (user: string, extra: Partial<FeatClientOptions>): FeatClientOptions =>
  ({
    couchUrl: emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(user),
    mode: 'local-first',
    local: { adapter: 'memory' },
    maxDocumentBytes: 200_000,
    maintenance: { enabled: false },
    ...extra,
  }) as FeatClientOptions;

const device = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClient => emu.track(createFeatClient(options(user, extra)));

const read = (c: FeatClient, key: string) =>
  c.store.get<string>(key).then(
    (v) => (typeof v === 'string' ? `len ${v.length}` : String(v)),
    (e: { code: string }) => `rejected ${e.code}`,
  );

describe('chunk garbage collection on a replica that is behind the server', () => {
  it('the app writes a value again on the collecting device while the deletions are on their way: it stays readable', async () => {
    const user = uniqueUser('gc-stale-undo');
    const hold: { gate?: Promise<void> } = {};
    let held = false;
    const a = device(user, {
      fetch: async (input, init) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        const body = typeof init?.body === 'string' ? init.body : '';
        if (hold.gate && !held && /_bulk_docs/.test(url) && body.includes('chunk~') && body.includes('"_deleted":true')) {
          held = true;
          await hold.gate;
        }
        return globalThis.fetch(input, init);
      },
    });
    await a.ready();
    await a.store.set('doc', V);
    await a.sync.waitForPush({ timeout: 10_000 });
    await a.store.set('doc', 'small');
    await a.sync.waitForPush({ timeout: 10_000 });
    await sleep(300);
    let release!: () => void;
    hold.gate = new Promise<void>((resolve) => (release = resolve));
    const run = a.maintenance.run({ chunkGraceMs: 0 });
    await waitFor(() => held, 10_000, "the collection's deletions are on their way");
    await a.store.set('doc', V); // an undo, durable in the replica
    await a.sync.waitForPush({ timeout: 10_000 });
    release();
    await run;
    const server = device(user, { mode: 'remote' });
    await waitFor(async () => (await read(server, 'doc')) === `len ${V.length}`, 10_000, 'the value is whole on the server').catch(() => undefined);
    expect({ a: await read(a, 'doc'), server: await read(server, 'doc') }).toEqual({ a: `len ${V.length}`, server: `len ${V.length}` });
  }, 60_000);

  it('a run that could not collect (sync paused) leaves the chunks to the next run, even with nothing changed since', async () => {
    const user = uniqueUser('gc-stale-retry');
    const a = device(user);
    await a.ready();
    await a.store.set('big', V);
    await a.store.set('big', 'small now');
    await a.sync.waitForPush({ timeout: 20_000 });
    a.sync.pause();
    expect((await a.maintenance.run({ chunkGraceMs: 0 })).chunksDeleted).toBe(0);
    a.sync.resume();
    await waitFor(() => a.sync.status === 'idle', 10_000, 'A idle');
    expect((await a.maintenance.run({ chunkGraceMs: 0 })).chunksDeleted).toBeGreaterThan(0);
  }, 60_000);

  it('an offline device collects nothing: a remote writer that reused the chunks keeps its value once the device is back', async () => {
    const user = uniqueUser('gc-stale-off');
    const wire = await cable(emu.couchUrl);
    let offline = false;
    const a = device(user, {
      couchUrl: wire.url,
      fetch: (input, init) => (offline ? Promise.reject(new TypeError('fetch failed')) : globalThis.fetch(input, init)),
    });
    await a.ready();
    await a.store.set('big', V, { ttl: 300 });
    await a.sync.waitForPush({ timeout: 20_000 });
    offline = true;
    wire.set(true);
    await sleep(700); // expired
    const first = await a.maintenance.run({ chunkGraceMs: 200 });
    await sleep(250);
    const second = await a.maintenance.run({ chunkGraceMs: 200 });
    expect(first.purged + second.purged).toBe(1); // the expired value is purged offline, as before
    expect(first.chunksDeleted + second.chunksDeleted).toBe(0); // its chunks are not: the replica may be behind
    // Meanwhile a remote-mode client stores the same text: the server still has its chunks, only a manifest is written.
    const b = device(user, { mode: 'remote' });
    await b.store.set('copy', V);
    offline = false;
    wire.set(false);
    await waitFor(async () => (await read(a, 'copy')) === `len ${V.length}`, 20_000, 'A pulls the copy').catch(() => undefined);
    await a.sync.waitForPush({ timeout: 20_000 });
    // Online and caught up, A may now collect: the copy's chunks are referenced.
    expect((await a.maintenance.run({ chunkGraceMs: 0 })).chunksDeleted).toBe(0);
    const server = device(user, { mode: 'remote' });
    expect({ a: await read(a, 'copy'), b: await read(b, 'copy'), server: await read(server, 'copy') }).toEqual({
      a: `len ${V.length}`,
      b: `len ${V.length}`,
      server: `len ${V.length}`,
    });
    wire.close();
  }, 90_000);

  it("a catch-up pull held between a big value's chunks and its manifest: nothing is collected until it has caught up", async () => {
    const user = uniqueUser('gc-stale-page');
    const proxy = await startFaultProxy(emu.couchUrl);
    const a = device(user, { couchUrl: proxy.url, maxDocumentBytes: 100_000 });
    await a.ready();
    await a.store.set('seed', 1);
    await a.sync.waitForPush({ timeout: 10_000 });
    a.sync.pause(); // away
    const b = device(user, { maxDocumentBytes: 100_000 });
    await b.ready();
    for (let i = 0; i < 98; i++) await b.store.set(`s${String(i).padStart(3, '0')}`, i);
    const big = text(900_000, 21);
    await b.store.set('big', big);
    await b.sync.waitForPush({ timeout: 30_000 });
    await b.close();
    // A comes back; its catch-up reads pages of changes: the second page is held.
    let pages = 0;
    proxy.fault((r) => r.method === 'GET' && /_changes$/.test(r.path) && r.url.includes('include_docs') && ++pages >= 2, 'hold');
    a.sync.resume();
    await waitFor(async () => (await a.store.keys('s')).length >= 50, 10_000, 'A has the first page');
    expect((await a.maintenance.run({ chunkGraceMs: 0 })).chunksDeleted).toBe(0);
    proxy.clear();
    proxy.release();
    await waitFor(async () => (await read(a, 'big')) === `len ${big.length}`, 20_000, 'A has the big value').catch(() => undefined);
    const server = device(user, { mode: 'remote' });
    expect({ a: await read(a, 'big'), server: await read(server, 'big') }).toEqual({ a: `len ${big.length}`, server: `len ${big.length}` });
    await proxy.close();
  }, 120_000);

  it('a write the replica has not pulled yet (its live feed silent) that reuses unreferenced chunks: they are spared', async () => {
    const user = uniqueUser('gc-stale-feed');
    const proxy = await startFaultProxy(emu.couchUrl);
    const a = device(user, { couchUrl: proxy.url });
    await a.ready();
    await a.store.set('big', V);
    await a.sync.waitForPush({ timeout: 20_000 });
    await a.store.set('big', 'small now'); // V's chunks are unreferenced, here and on the server
    await a.sync.waitForPush({ timeout: 20_000 });
    // A's live feed goes silent (a half-open connection): A believes it is caught up.
    proxy.fault((r) => r.method === 'GET' && /_changes$/.test(r.path) && r.url.includes('feed=continuous'), 'stall');
    a.sync.pause();
    a.sync.resume();
    await waitFor(() => a.sync.status === 'idle', 10_000, 'A idle again');
    await sleep(300);
    const b = device(user, { mode: 'remote' });
    await b.store.set('copy', V); // reuses V's chunks on the server: only its manifest is written
    const report = await a.maintenance.run({ chunkGraceMs: 0 });
    expect(report.chunksDeleted).toBe(0);
    const server = device(user, { mode: 'remote' });
    expect({ b: await read(b, 'copy'), server: await read(server, 'copy') }).toEqual({ b: `len ${V.length}`, server: `len ${V.length}` });
    proxy.clear();
    proxy.release();
    await proxy.close();
  }, 90_000);
});
