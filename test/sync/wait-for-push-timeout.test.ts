/**
 * waitForPush()'s timeout says which writes the server has not got: a user (or CI log) reading "did not reach the
 * server (sync status: idle)" could not tell what was waited for.
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

describe('waitForPush() timing out', () => {
  it('names the keys not found on the server yet', async () => {
    const user = uniqueUser('wfp-names');
    const c = createFeatClient({ accountsUrl: emu.accountsUrl, couchUrl: proxy.url, auth: emu.bearerFor(user), requestTimeout: 5_000, local: { adapter: 'memory' } });
    try {
      await c.ready();
      const off = proxy.fault({ method: 'POST', path: /\/_bulk_docs$/ }, 'hold');
      for (const key of ['alpha', 'beta', 'gamma', 'delta', 'epsilon']) await c.store.set(key, key.length);
      const error = await c.sync.waitForPush({ timeout: 800 }).then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string },
      );
      expect(error?.code).toBe('timeout');
      expect(error?.message).toMatch(/within 800 ms/);
      expect(error?.message).toMatch(/not found there yet: "[a-z]+", "[a-z]+", "[a-z]+" and 2 more/);
      off();
      proxy.release();
      await c.sync.waitForPush({ timeout: 15_000 });
    } finally {
      await c.close();
    }
  }, 30_000);
});
