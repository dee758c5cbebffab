/**
 * `close()` of a client on a memory replica (Node's default: it cannot be reopened) while a big value crosses a slow
 * link. The push is under way and would finish well within close()'s documented bound (`2 × requestTimeout + 1 s`);
 * close() gave it a fixed 5 s, then freed the replica and reported the value as discarded (found over a 40 kB/s link:
 * a 500 kB value written 2 s before close() never reached the server). A push that stopped (the server out of reach)
 * still gets only the 5 s grace.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatError } from '@feat/sdk';
import { uniqueUser, useEmulator, valueOnServer, sleep } from '../support/backend.js';
import { startSlowLink } from '../support/slow-link.js';

const emu = useEmulator();

/** Text that does not compress nor repeat. */
const noise = (n: number) => Array.from({ length: Math.ceil(n / 8) }, () => Math.random().toString(36).slice(2, 10)).join('').slice(0, n);

describe('close() during a slow push (memory replica)', () => {
  it('a push under way that fits close()\'s bound reaches the server; close() returns once it did', async () => {
    const user = uniqueUser('slowclose');
    const link = await startSlowLink({ up: 30_000, down: 30_000, rttMs: 400, jitterMs: 100 });
    try {
      const client: FeatClient = createFeatClient({
        couchUrl: await link.through(emu.couchUrl),
        accountsUrl: emu.accountsUrl,
        auth: emu.bearerFor(user),
        local: { adapter: 'memory' },
        requestTimeout: 15_000,
        maintenance: { enabled: false },
      });
      const errors: FeatError[] = [];
      client.sync.on('error', (e) => errors.push(e));
      await client.ready();
      const value = { body: noise(300_000) };
      await client.store.set('big', value);
      await sleep(1_000);
      const started = performance.now();
      await client.close();
      const took = performance.now() - started;
      expect(await valueOnServer(emu, user, 'big')).toEqual(value);
      expect(errors.map((e) => e.message)).toEqual([]);
      // Within close()'s bound (2 × 15 s + 1 s), and not the 5 s grace that cut it before (≈ 9 s of upload were left).
      expect(took).toBeLessThan(31_000 + 2_000);
    } finally {
      await link.close();
    }
  }, 90_000);

  it('a push that cannot reach the server still ends after the 5 s grace, the writes reported', async () => {
    const user = uniqueUser('slowclose');
    let down = false;
    const client: FeatClient = createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      local: { adapter: 'memory' },
      requestTimeout: 10_000,
      maintenance: { enabled: false },
      fetch: (input, init) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        return down && url.startsWith(emu.couchUrl) ? Promise.reject(new TypeError('fetch failed')) : fetch(input, init);
      },
    });
    const errors: FeatError[] = [];
    client.sync.on('error', (e) => errors.push(e));
    await client.ready();
    down = true;
    await client.store.set('k', 1);
    const started = performance.now();
    await client.close();
    const took = performance.now() - started;
    expect(took).toBeLessThan(8_000);
    expect(errors.some((e) => /close\(\) discarded 1 local change/.test(e.message))).toBe(true);
  }, 60_000);
});
