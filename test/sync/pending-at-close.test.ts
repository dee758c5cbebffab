/**
 * The `pending` event across close(): counting stops when close() begins, but close()'s last push (a memory replica's
 * drain) may send what was pending. The last count told must be what close() left — an "unsaved changes" badge bound
 * to it kept showing 2 after logout() had pushed both writes (found through `usePending()`).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator, valueOnServer, waitFor } from '../support/backend.js';

const emu = useEmulator();

const client = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
  emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, maintenance: { enabled: false }, ...extra }),
  );

describe('pending across close()', () => {
  it.each(['close', 'logout'] as const)('writes then %s() at once: the last `pending` is 0 once they are on the server', async (how) => {
    const user = uniqueUser('pendclose');
    const c = client(user);
    const events: number[] = [];
    c.sync.on('pending', (n) => events.push(n));
    await c.ready();
    await c.store.set('a', 1);
    await c.store.set('b', 2);
    await waitFor(() => events.at(-1) === 2, 5_000, 'two pending');
    await (how === 'close' ? c.close() : c.logout());
    expect([await valueOnServer(emu, user, 'a'), await valueOnServer(emu, user, 'b')]).toEqual([1, 2]);
    expect(events.at(-1)).toBe(0);
  });

  it('a replica that keeps its writes (named) closed while the server is out of reach: the count stays', async () => {
    const user = uniqueUser('pendclose');
    let down = false;
    const c = client(user, {
      local: { adapter: 'memory', name: `pend-${user}` },
      fetch: (input, init) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        return down && url.startsWith(emu.couchUrl) ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init);
      },
    });
    const events: number[] = [];
    c.sync.on('pending', (n) => events.push(n));
    c.sync.on('error', () => undefined);
    await c.ready();
    down = true;
    await c.store.set('a', 1);
    await waitFor(() => events.at(-1) === 1, 5_000, 'one pending');
    await c.close();
    expect(events.at(-1)).toBe(1);
  });
});
