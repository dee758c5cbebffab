/**
 * A closed client sends nothing: a request in flight when the client closes is ended by the close — not sent again
 * when its connection drops afterwards, not resent after a 5xx — in remote mode (a watch's feed) and local-first (live
 * sync, the "is it on the server?" check of waitForPush).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator({ peruserDelayMs: 0 });
const proxy = useFaultProxy(() => emu.couchUrl);

const dbPath = (p: string) => !p.startsWith('/_') && p !== '/';

/** Closes the client, runs `afterClose`, and answers the requests the proxy saw in the next 2 s. */
async function sentAfterClose(c: FeatClient, afterClose: () => void): Promise<string[]> {
  await c.close();
  const from = proxy.log.length;
  afterClose();
  await sleep(2_000);
  return proxy.log.slice(from).map((l) => `${l.method} ${l.url}`);
}

describe('remote mode: a watch feed request in flight at close()', () => {
  it('held, its connection dropped after close() resolved: not sent again', async () => {
    const c = createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('nac')), mode: 'remote', requestTimeout: 1_000 });
    await c.ready();
    proxy.fault((r) => dbPath(r.path), 'hold');
    c.store.watch('k', () => undefined, { onError: () => undefined });
    await waitFor(() => proxy.held > 0, 10_000, 'the feed held');
    const late = await sentAfterClose(c, () => {
      proxy.clear();
      proxy.release();
    });
    expect(late).toEqual([]);
  }, 20_000);

  it('answered 502: the resends stop at close()', async () => {
    const c = createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('nac')), mode: 'remote', requestTimeout: 1_000 });
    await c.ready();
    const from = proxy.log.length;
    proxy.fault((r) => dbPath(r.path), 'answer', { status: 502 });
    c.store.watch('k', () => undefined, { onError: () => undefined });
    await waitFor(() => proxy.log.length > from, 10_000, 'the feed answered 502');
    const late = await sentAfterClose(c, () => undefined);
    proxy.clear();
    expect(late).toEqual([]);
  }, 20_000);
});

describe('local-first (memory): requests in flight at close()', () => {
  for (const action of ['hold', 'answer'] as const) {
    it(`${action === 'hold' ? 'held, then dropped' : 'answered 502'} during live sync with a write queued: nothing sent after close()`, async () => {
      // hold: a long requestTimeout, so that the held requests are still in flight when close() resolves
      const c = createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('nac')), local: { adapter: 'memory' }, requestTimeout: action === 'hold' ? 20_000 : 1_000 });
      await c.ready();
      proxy.fault((r) => dbPath(r.path), action, { status: 502 });
      await c.store.set('x', 1);
      c.store.watch('x', () => undefined, { onError: () => undefined });
      await sleep(1_000);
      // "Is it on the server?" asked just before the close: its _revs_diff meets the fault.
      await c.sync.waitForPush({ timeout: 150 }).catch(() => undefined);
      const late = await sentAfterClose(c, () => {
        proxy.clear();
        proxy.release();
      });
      expect(late).toEqual([]);
    }, 30_000);
  }
});
