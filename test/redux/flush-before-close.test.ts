/**
 * `storage.flush()` called before `client.close()`: every write it waits for is made durable (close() waits for them),
 * so it resolves. It rejected `closed` (its last step, the store's flush, was a call after close()) although the state
 * was on the server: a logout or pagehide path reported a failed flush that did not fail. Asked after close(), it
 * rejects `closed`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
});

const P = JSON.stringify({ version: -1, rehydrated: true });
const state = (a: string) => JSON.stringify({ a: JSON.stringify(a), _persist: P });

describe('storage.flush() called before close()', () => {
  it('remote, slow writes: the writes reach the server, and flush() resolves (not closed)', async () => {
    const user = uniqueUser('rxf');
    const proxy = await startFaultProxy(emu.couchUrl);
    proxies.push(proxy);
    const client = emu.track(
      createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' } as FeatClientOptions),
    );
    const storage = createPersistStorage(client.store);
    await storage.setItem('persist:root', state('v1'));
    await storage.flush();
    proxy.fault((r) => r.method !== 'GET', 'delay', { delayMs: 300 });
    const write = storage.setItem('persist:root', state('v2'));
    const flushed = storage.flush().then(
      () => 'resolved',
      (e: { code?: string }) => `rejected: ${e.code}`,
    );
    const closed = client.close();
    await expect(write).resolves.toBeUndefined();
    await closed;
    proxy.clear();
    const reader = emu.track(
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' } as FeatClientOptions),
    );
    expect(await createPersistStorage(reader.store).getItem('persist:root')).toBe(state('v2'));
    // The state is durable, and the flush was asked for before close(): it must say so.
    expect(await flushed).toBe('resolved');
  });

  it('local-first, a client just created: setItem + flush() + close() at once; flush() resolves once the state is stored', async () => {
    const user = uniqueUser('rxf');
    const options = { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } } as FeatClientOptions;
    const client = emu.track(createFeatClient(options));
    const storage = createPersistStorage(client.store);
    const write = storage.setItem('persist:root', state('v1'));
    const flushed = storage.flush().then(
      () => 'resolved',
      (e: { code?: string }) => `rejected: ${e.code}`,
    );
    await client.close();
    const w = await write.then(() => 'resolved', (e: { code?: string }) => `rejected: ${e.code}`);
    expect(w).toBe('resolved');
    expect(await flushed).toBe('resolved');
  });

  it('asked after close(): rejects closed', async () => {
    const client = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('rxf')), mode: 'remote' } as FeatClientOptions);
    const storage = createPersistStorage(client.store);
    await storage.setItem('persist:root', state('v1'));
    await client.close();
    await expect(storage.flush()).rejects.toMatchObject({ code: 'closed' });
  });

  it('plain keys: store.flush() called before close() over the same slow writes resolves (the store itself is right)', async () => {
    const user = uniqueUser('rxf');
    const proxy = await startFaultProxy(emu.couchUrl);
    proxies.push(proxy);
    const client = emu.track(
      createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' } as FeatClientOptions),
    );
    await client.store.setItem('k', 'v1');
    proxy.fault((r) => r.method !== 'GET', 'delay', { delayMs: 300 });
    const write = client.store.setItem('k', 'v2');
    const flushed = client.store.flush().then(
      () => 'resolved',
      (e: { code?: string }) => `rejected: ${e.code}`,
    );
    const closed = client.close();
    await write;
    await closed;
    expect(await flushed).toBe('resolved');
  });
});
