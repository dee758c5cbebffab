/**
 * `pending()` drops back to 0 by itself (README "Sync"): also when the server could not confirm a push for longer than
 * the confirmation's quick retries (~30 s), and the push side has nothing more to send. It stayed above 0, with status
 * `idle`, until the app wrote again (flap attack). Now the confirmation is asked every 30 s after that, at once when
 * sync is idle again, and when the app asks `pending()` while one is owed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(emu.couchUrl);
});
afterAll(() => proxy.close());

describe('a push the server could not confirm for 40 s', () => {
  it('pending() reaches 0 once the server answers again, without another write', async () => {
    const c = createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('confirm')), local: { adapter: 'memory' }, requestTimeout: 3_000 });
    try {
      await c.ready();
      // The write is pushed; every confirmation (`_revs_diff`) fails for 40 s.
      const off = proxy.fault({ method: 'POST', path: /\/_revs_diff$/ }, 'reset');
      await c.store.set('c', 'confirm me');
      await sleep(40_000);
      expect(await c.sync.pending()).toBe(1);
      off();
      await waitFor(async () => (await c.sync.pending()) === 0, 10_000, 'pending() back to 0');
      expect(c.sync.status).toBe('idle');
    } finally {
      await c.close();
    }
  }, 90_000);
});
