/**
 * Remote mode, a write whose answer is lost on the way back (it was stored): the next write of the key meets that
 * version, which is this client's own — no conflict event, and no resolver merging the app's value with itself (a
 * "server wins" resolver dropped the app's newer write; a merging one doubled a draft). Recognised by the lost write's
 * time and value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, type ConflictEvent } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(emu.couchUrl);
});
afterAll(() => proxy.close());

describe.each([
  ['the default resolver', undefined],
  ['a "server wins" resolver', ({ remote }: { remote: { value: unknown } }) => remote.value],
  ['a merging resolver', ({ local, remote }: { local: { value: unknown }; remote: { value: unknown } }) => `${String(local.value)}+${String(remote.value)}`],
] as const)('remote mode, a set whose answer is lost, with %s', (_name, onConflict) => {
  it('the next set of the key resolves with no conflict event, and the server ends on it', async () => {
    const c = createFeatClient({
      couchUrl: proxy.url,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(uniqueUser('lost')),
      mode: 'remote',
      requestTimeout: 2_000,
      ...(onConflict ? { onConflict: onConflict as never } : {}),
    });
    const conflicts: ConflictEvent[] = [];
    c.sync.on('conflict', (e) => conflicts.push(e));
    try {
      await c.ready();
      await c.store.set('draft', 'v1');
      proxy.fault((r) => r.method === 'PUT' || (r.method === 'POST' && r.path.endsWith('/_bulk_docs')), 'swallow', { times: 1 });
      await expect(c.store.set('draft', 'v2')).rejects.toMatchObject({ code: 'timeout' });
      await c.store.set('draft', 'v3');
      expect(await c.store.get('draft')).toBe('v3');
      expect(conflicts).toEqual([]);
    } finally {
      proxy.clear();
      proxy.release();
      await c.close();
    }
  }, 30_000);
});
