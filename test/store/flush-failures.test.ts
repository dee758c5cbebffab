/**
 * `flush()` resolves when every set/remove made before it is durable and rejects with the first failure among them —
 * also while a parts call made before it is still looking up the stored parts. It resolved (flap attack): it waited for
 * those lookups first and only then looked at the queue, from which the failed writes had gone meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(emu.couchUrl);
});
afterAll(() => proxy.close());

describe.each([false, true])('remote mode, the server unreachable: flush() after a set that fails (a parts call planning too: %s)', (withParts) => {
  it('rejects with the failure, like the set', async () => {
    const c = createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('flush')), mode: 'remote', requestTimeout: 3_000 });
    try {
      await c.ready();
      const off = proxy.fault(() => true, 'reset');
      try {
        const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code: string }) => e.code);
        const set = code(c.store.set('b', 'never stored'));
        const parts = withParts ? code(c.store.setParts('p', { x: 3 })) : Promise.resolve('none');
        const flush = code(c.store.flush());
        expect(await set).toBe('network');
        expect(await parts).toBe(withParts ? 'network' : 'none');
        expect(await flush).toBe('network');
      } finally {
        off();
      }
    } finally {
      await c.close();
    }
  }, 30_000);
});
