/**
 * close() ends every wait: remote reads in flight when the client closes (a server holding every request, a long
 * requestTimeout) end with `closed` at close(), not `timeout` requestTimeout later.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';

const RT = 20_000;
const emu = useEmulator({ peruserDelayMs: 0 });
const proxy = useFaultProxy(() => emu.couchUrl);
const dbPath = (p: string) => !p.startsWith('/_') && p !== '/';

describe('remote: close() while the server holds every request', () => {
  it('get, keys, getParts, getItem, find and a watch with initial end with closed at close()', async () => {
    const c = createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('cer')), mode: 'remote', requestTimeout: RT });
    try {
      await c.ready();
      await c.store.set('k', 1);
      await c.store.setParts('p', { a: 1 });
      proxy.fault((r) => dbPath(r.path), 'hold');
      let closedAt = 0;
      const outcome = (p: Promise<unknown>) =>
        p.then(
          () => ({ code: 'resolved', after: Date.now() - closedAt }),
          (e: unknown) => ({ code: isFeatError(e) ? e.code : `raw: ${String(e)}`, after: Date.now() - closedAt }),
        );
      const watched = new Promise<unknown>((resolve, reject) => c.store.watch('k', () => undefined, { initial: true, onError: reject }));
      const reads = {
        get: outcome(c.store.get('k')),
        keys: outcome(c.store.keys('')),
        getParts: outcome(c.store.getParts('p')),
        getItem: outcome(c.store.getItem('k')),
        find: outcome(c.store.find({ selector: { x: 1 } })),
        watchInitial: outcome(watched),
      };
      await waitFor(() => proxy.held >= 5, 10_000, 'the reads held');
      await sleep(100);
      closedAt = Date.now();
      await c.close();
      const results = Object.fromEntries(await Promise.all(Object.entries(reads).map(async ([name, p]) => [name, await p] as const)));
      for (const [name, r] of Object.entries(results)) {
        expect(r.code, name).toBe('closed');
        // Far below requestTimeout (20 s): ended by the close, not by their timeout.
        expect(r.after, `${name} ended ${r.after} ms after close()`).toBeLessThan(5_000);
      }
    } finally {
      proxy.clear();
      proxy.release();
      await c.close();
    }
  }, 40_000);
});
