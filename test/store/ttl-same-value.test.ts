/**
 * A write meeting another device's copy of the SAME value with another expiry (a write conflict): the kept value keeps
 * the expiry of the write it came from (README), so the app's later `set()` without a ttl over the other device's
 * copy with one is written — it was taken for "the server's version, nothing to write", and the key expired on every
 * device. Likewise a resolver that keeps the server's value, when the app's own (later) copy of it has no ttl.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

describe.each(['remote', 'local-first'] as const)('%s writer, default resolver', (mode) => {
  const client = (user: string): FeatClient =>
    emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode, local: { adapter: 'memory' }, maintenance: { enabled: false } } as FeatClientOptions));

  it('A wrote k; B sets the same value with a 1.5 s ttl; A (not having read it) sets the same value without ttl: k never expires', async () => {
    const user = uniqueUser('zst1');
    const A = client(user);
    const B = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', maintenance: { enabled: false } } as FeatClientOptions));
    await Promise.all([A.ready(), B.ready()]);
    await A.store.set('k', 'same');
    if (mode === 'local-first') await A.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => (await B.store.get('k')) === 'same', 20_000, 'B sees k');
    await B.store.set('k', 'same', { ttl: 1_500 });
    if (mode === 'local-first') await sleep(500); // A's replica pulls B's revision
    await sleep(50);
    await A.store.set('k', 'same'); // the user's latest save: permanent
    if (mode === 'local-first') await A.sync.waitForPush({ timeout: 20_000 });
    await sleep(2_200);
    const fresh = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' } as FeatClientOptions));
    expect({ A: await A.store.get('k'), B: await B.store.get('k'), fresh: await fresh.store.get('k') }).toEqual({ A: 'same', B: 'same', fresh: 'same' });
  }, 60_000);

  it('control: the same with a different value — A\'s later value is kept without expiry', async () => {
    const user = uniqueUser('zst2');
    const A = client(user);
    const B = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', maintenance: { enabled: false } } as FeatClientOptions));
    await Promise.all([A.ready(), B.ready()]);
    await A.store.set('k', 'same');
    if (mode === 'local-first') await A.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => (await B.store.get('k')) === 'same', 20_000, 'B sees k');
    await B.store.set('k', 'other', { ttl: 1_500 });
    if (mode === 'local-first') await sleep(500);
    await sleep(50);
    await A.store.set('k', 'same');
    if (mode === 'local-first') await A.sync.waitForPush({ timeout: 20_000 });
    await sleep(2_200);
    const fresh = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' } as FeatClientOptions));
    expect({ A: await A.store.get('k'), fresh: await fresh.store.get('k') }).toEqual({ A: 'same', fresh: 'same' });
  }, 60_000);
});

describe.each([
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first', options: { mode: 'local-first', local: { adapter: 'memory' } } },
] as const)('parts, a resolver keeping the server copy: $name', ({ name, options }) => {
  function client(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
    return emu.track(
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), maintenance: { enabled: false }, ...options, ...extra } as FeatClientOptions),
    );
  }
  const settle = async (c: FeatClient) => {
    if (name === 'local-first') await c.sync.waitForPush({ timeout: 20_000 });
  };

  it("a resolver that keeps the server's copy (same content, with a ttl): the app's next setParts makes the part permanent", async () => {
    const user = uniqueUser('zpt5');
    const A = client(user, { onConflict: ({ remote }) => remote.value });
    const B = client(user);
    await Promise.all([A.ready(), B.ready()]);
    await A.store.setParts('doc', { p: 'same' });
    await settle(A);
    if (name === 'local-first') A.sync.pause();
    await waitFor(async () => (await B.store.get('doc:p')) === 'same', 20_000, 'B sees p');
    await B.store.set('doc:p', 'same', { ttl: 2_000 });
    await settle(B);
    // A (stale) saves the same object: a conflict the resolver settles with the server's copy (which expires).
    await A.store.setParts('doc', { p: 'same', t: Date.now() });
    if (name === 'local-first') {
      A.sync.resume();
      await settle(A);
      await sleep(1_000);
    }
    // The app saves again: no conflict now; it wants p permanent.
    await A.store.setParts('doc', { p: 'same', t: 1 });
    await settle(A);
    await sleep(2_500);
    expect((await A.store.getParts('doc')).p).toBe('same');
    const fresh = client(user, { mode: 'remote' });
    expect((await fresh.store.getParts('doc')).p).toBe('same');
  }, 60_000);

});
