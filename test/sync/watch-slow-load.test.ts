/**
 * README "Watching": a subscription reports every change made after `watch()` returned. The changes-feed code is
 * loaded on the first subscription (a lazy chunk: in a browser, a request — tens or hundreds of ms on a slow link), and
 * the feed's starting point was taken once it had loaded: another device's change that arrived meanwhile was before it,
 * and never reported (found by an attack: a write 10–20 ms after `watch()`, 3 runs of 3). The starting point is now
 * asked for at the call (lazy-watch.ts). Here the code takes 300 ms to load, as over a slow link. And a subscription
 * gone before the code loaded leaves no starting point behind: a later first subscription pinned there reported changes
 * made long before it (found by the review).
 */
import { describe, expect, it, vi } from 'vitest';
import type { ChangeEvent, FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

/**
 * Clients of `user` from a fresh module graph whose watch code loads for the first time, in 300 ms (a fresh graph per
 * case: each case's first watch() loads it).
 */
async function slowWatchClients(user: string) {
  vi.resetModules();
  vi.doMock('../../src/sync/watch.js', async (load) => {
    await sleep(300);
    return load();
  });
  const { createFeatClient } = await import('@feat/sdk');
  return (mode: 'local-first' | 'remote') =>
    emu.track(
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode, ...(mode === 'local-first' ? { local: { adapter: 'memory' } } : {}) } as FeatClientOptions),
    );
}

describe('the first watch() while its code loads slowly', () => {
  for (const mode of ['local-first', 'remote'] as const)
    it(`${mode}: another device's change made right after watch() returned is reported`, async () => {
      const client = await slowWatchClients(uniqueUser('watch-slow'));
      const a = client('remote');
      const b = client(mode);
      await Promise.all([a.ready(), b.ready()]);
      const events: ChangeEvent[] = [];
      const off = b.store.watch('w', (e) => events.push(e));
      await a.store.set('w', { n: 1 });
      await waitFor(async () => JSON.stringify(await b.store.get('w')) === '{"n":1}', 20_000, 'b has the value');
      await waitFor(() => events.length > 0, 5_000, 'the change reported').catch(() => undefined);
      off();
      expect(events.map((e) => [e.key, e.value, e.kind, e.origin])).toEqual([['w', { n: 1 }, 'insert', 'remote']]);
    }, 60_000);
});

describe('watch(): the starting point of a subscription gone before the code loaded', () => {
  for (const mode of ['local-first', 'remote'] as const)
    it(`${mode}: a later watch() reports no change made before it was called`, async () => {
      const c = (await slowWatchClients(uniqueUser('pin-stale')))(mode);
      await c.ready();
      // Subscribed and gone at once: the code is still loading (300 ms).
      const off0 = c.store.watch('k', () => undefined);
      off0();
      await sleep(500);
      await c.store.set('k', { n: 1 });
      await c.store.set('old', 1);
      await sleep(500);
      const events: ChangeEvent[] = [];
      const off = c.store.watch('k', (e) => events.push(e));
      await sleep(1_500);
      off();
      expect(events.map((e) => [e.key, e.value])).toEqual([]);
    }, 60_000);
});
