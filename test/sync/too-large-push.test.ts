/**
 * A document the proxy refuses as too large in local-first (its body limit below the client's `maxRequestBytes`, here
 * 0 = unknown): the `too_large` event had no key, came again with every retry of the whole push, and `pending()` kept
 * counting writes already on the server. Now it names the key, once per revision; the status reads `error` while it
 * holds; the other writes go on and `pending()` counts only the refused one, which is sent again with backoff.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatError } from '@feat/sdk';
import { sleep, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

describe('a document too large for the proxy, in local-first', () => {
  it('is reported once with its key; the other writes are pushed; pending() counts it alone', async () => {
    const user = uniqueUser('too-large');
    const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, maxRequestBytes: 0 }));
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    await c.ready();
    await c.store.set('big', text(2_000_000));
    await c.store.set('small', 1);
    await waitFor(() => errors.length > 0 && c.sync.status === 'error', 20_000, 'the refusal');
    await c.store.set('later', 2);
    const remote = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' }));
    await waitFor(async () => (await remote.store.get('later')) === 2, 20_000, 'a later write on the server');
    expect(await remote.store.get('small')).toBe(1);
    expect(await remote.store.get('big')).toBeUndefined();
    await waitFor(async () => (await c.sync.pending()) === 1, 10_000, 'pending() = 1');
    // Resent after 5 s (with jitter): refused again, said nothing new.
    await sleep(7_000);
    expect(errors.map((e) => [e.code, e.key])).toEqual([['too_large', 'big']]);
    expect(c.sync.status).toBe('error');
    expect(await c.sync.pending()).toBe(1);
    // The value is the device's: readable there, in full.
    expect(((await c.store.get('big')) as string).length).toBe(text(2_000_000).length);
  }, 60_000);
});
