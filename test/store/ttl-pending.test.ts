/**
 * README "TTL": a `ttl` counts from the write (store.ts #writeBatch), not from the call. A get() of the value while it
 * still waits for ready() judged its expiry by the call's time: gone, then back once written (found by the review).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator({ peruserDelayMs: 1_500 });

describe('ttl: a pending value', () => {
  it('does not read as expired while it waits for ready(), then come back once written', async () => {
    const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('ttlpeek')), mode: 'remote' } as FeatClientOptions));
    const written = c.store.set('k', 1, { ttl: 600 });
    await sleep(800);
    const whilePending = await c.store.get('k');
    await written;
    const afterWrite = await c.store.get('k');
    // Either way, but not gone-then-back.
    expect([whilePending, afterWrite]).not.toEqual([undefined, 1]);
  }, 30_000);
});
