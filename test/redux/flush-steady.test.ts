/**
 * `storage.flush()` while the app keeps writing (a slice updated every 50 ms: a draft being typed, a clock, a progress
 * counter) over a link where a write takes a few hundred ms. flush() is "every write the engine started is durable":
 * the writes started before the call. It settles once those are; it waited for the app to stop writing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
});

const P = JSON.stringify({ version: -1, rehydrated: true });
const state = (a: string) => JSON.stringify({ a: JSON.stringify(a), _persist: P });

describe('storage.flush() under steady writes', () => {
  for (const mode of ['remote', 'local-first'] as const) {
    it(`${mode}: settles once the writes started before it are durable, while the app keeps writing`, async () => {
      const user = uniqueUser('rxs');
      const proxy = await startFaultProxy(emu.couchUrl);
      proxies.push(proxy);
      const client = emu.track(
        createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode, local: { adapter: 'memory' } } as FeatClientOptions),
      );
      const storage = createPersistStorage(client.store);
      await storage.setItem('persist:root', state('v0'));
      await storage.flush();
      proxy.fault((r) => r.method !== 'GET', 'delay', { delayMs: 250 });
      let n = 0;
      let stop = false;
      const typing = (async () => {
        while (!stop) {
          void storage.setItem('persist:root', state(`v${++n}`)).catch(() => undefined);
          await sleep(50);
        }
      })();
      await sleep(300);
      const t0 = Date.now();
      const outcome = await Promise.race([storage.flush().then(() => 'resolved', (e: { code?: string }) => `rejected ${e.code}`), sleep(8000).then(() => 'still pending after 8 s')]);
      const took = Date.now() - t0;
      stop = true;
      await typing;
      console.log(mode, outcome, took, 'ms; writes', n);
      await storage.flush().catch(() => undefined);
      expect(outcome).toBe('resolved');
    }, 30_000);
  }

  it('control (remote): client.store.flush() over the same steady plain writes settles', async () => {
    const user = uniqueUser('rxs');
    const proxy = await startFaultProxy(emu.couchUrl);
    proxies.push(proxy);
    const client = emu.track(
      createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' } as FeatClientOptions),
    );
    await client.store.setItem('k', 'v0');
    proxy.fault((r) => r.method !== 'GET', 'delay', { delayMs: 250 });
    let n = 0;
    let stop = false;
    const typing = (async () => {
      while (!stop) {
        void client.store.setItem('k', `v${++n}`).catch(() => undefined);
        await sleep(50);
      }
    })();
    await sleep(300);
    const t0 = Date.now();
    const outcome = await Promise.race([client.store.flush().then(() => 'resolved', (e: { code?: string }) => `rejected ${e.code}`), sleep(8000).then(() => 'still pending after 8 s')]);
    stop = true;
    await typing;
    console.log('store', outcome, Date.now() - t0);
    expect(outcome).toBe('resolved');
  }, 30_000);
});
