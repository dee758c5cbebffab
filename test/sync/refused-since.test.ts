/**
 * A pull checkpoint the server refuses: CouchDB answers 400 "Malformed sequence supplied in 'since' parameter." to a
 * `since` it cannot read (a checkpoint from another server, a database restored from elsewhere). The pull read again
 * with the same checkpoint, forever, and another device's writes never arrived. It now reads again from the start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy, type FaultProxy, type FaultRequest } from '../support/fault-proxy.js';

const emu = useEmulator();
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(emu.couchUrl);
});
afterAll(() => proxy.close());

const sinceOf = (req: FaultRequest) => new URL(req.url, 'http://x').searchParams.get('since');

describe('a pull checkpoint the server refuses', () => {
  it('is dropped: the pull reads from the start and another device’s write arrives', async () => {
    const user = uniqueUser('since');
    const name = `feat-since-${user}`;
    const options = { accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), requestTimeout: 3_000 } as const;
    // Something on the server first: the device's first pull then saves a checkpoint past 0 before ready() resolves
    // (its live pull's later checkpoint may not be saved before close(), on a loaded machine).
    const before = createFeatClient({ ...options, couchUrl: emu.couchUrl });
    await before.store.set('before', 0);
    await before.close();
    const first = createFeatClient({ ...options, couchUrl: proxy.url, local: { adapter: 'memory', name } });
    await first.ready();
    expect(await first.store.get('before')).toBe(0);
    await first.store.set('mine', 1);
    await first.sync.waitForPush({ timeout: 10_000 });
    await first.close();

    const other = createFeatClient({ ...options, couchUrl: emu.couchUrl });
    await other.store.set('theirs', 2);
    await other.close();

    // Every `_changes` with a checkpoint is refused until the device asks from the start.
    let fromStart = false;
    const refused: string[] = [];
    proxy.fault(
      (req) => {
        if (!/\/_changes$/.test(req.path)) return false;
        const since = sinceOf(req);
        if (since === null || since === '0' || since === 'now') fromStart ||= since === '0';
        else if (!fromStart) refused.push(since);
        return since !== null && since !== '0' && since !== 'now' && !fromStart;
      },
      'answer',
      { status: 400, body: { error: 'bad_request', reason: "Malformed sequence supplied in 'since' parameter." } },
    );
    const again = createFeatClient({ ...options, couchUrl: proxy.url, local: { adapter: 'memory', name } });
    try {
      await again.ready();
      await waitFor(async () => (await again.store.get('theirs')) === 2, 20_000, 'the other device’s write');
      expect(refused.length).toBeGreaterThan(0);
      expect(fromStart).toBe(true);
      expect(await again.store.get('mine')).toBe(1);
      await waitFor(() => again.sync.status === 'idle', 10_000, 'idle');
    } finally {
      proxy.clear();
      await again.close();
    }
  }, 60_000);
});
