/**
 * The version guard (docs/redux.md "Versions") as an attack of this session's fixes found it: a rollback deploy (an
 * older app loading a state a newer one stored) was refused every write forever; a refused write let `flush()` resolve
 * as if it were durable; a default (initial state) won over another device's edit stamped by a clock ahead of this one.
 */
import { describe, expect, it, vi } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';
import { expectCode, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const modes = [
  ['remote', { mode: 'remote' }],
  ['local-first', { local: { adapter: 'memory' } }],
] as const;

const state = (version: number, slices: Record<string, string>) =>
  JSON.stringify({ ...Object.fromEntries(Object.entries(slices).map(([k, v]) => [k, JSON.stringify(v)])), _persist: JSON.stringify({ version, rehydrated: true }) });
const slicesOf = (text: string | null) => (text === null ? undefined : Object.fromEntries(Object.entries(JSON.parse(text) as Record<string, string>).map(([k, v]) => [k, JSON.parse(v) as unknown])));

describe.each(modes)('%s', (_, options) => {
  const client = (user: string): FeatClient =>
    emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...options } as FeatClientOptions));

  it('a rollback (an older app loads what a newer one stored) writes as redux-persist does on one device', async () => {
    const user = uniqueUser('redux-rollback');
    const c = client(user);
    await c.ready();
    const v2 = createPersistStorage(c.store);
    await v2.getItem('persist:root');
    await v2.setItem('persist:root', state(2, { a: 'by version 2' }));
    await v2.flush();
    const v1 = createPersistStorage(c.store);
    expect(slicesOf(await v1.getItem('persist:root'))).toMatchObject({ a: 'by version 2' });
    await v1.setItem('persist:root', state(1, { a: 'edited after the rollback' }));
    await v1.flush();
    expect(slicesOf(await createPersistStorage(c.store).getItem('persist:root'))).toMatchObject({ a: 'edited after the rollback' });
  });

  it('a newer version stored by another device while this one runs: its writes are refused, and flush() says so', async () => {
    const user = uniqueUser('redux-upgrade');
    const c = client(user);
    await c.ready();
    const v1 = createPersistStorage(c.store);
    await v1.getItem('persist:root');
    await v1.setItem('persist:root', state(1, { a: 'v1' }));
    await v1.flush();
    // Another device (here a second engine) upgrades while v1 keeps running; v1 learns of it on its next write.
    const v2 = createPersistStorage(c.store);
    await v2.getItem('persist:root');
    await v2.setItem('persist:root', state(2, { a: 'v2 shaped' }));
    await v2.flush();
    vi.useFakeTimers({ now: Date.now() + 6_000, toFake: ['Date'] }); // past the engine's re-check period
    try {
      await expectCode(v1.setItem('persist:root', state(1, { a: 'v1 shaped edit' })), 'conflict');
      await expectCode(v1.flush(), 'conflict');
    } finally {
      vi.useRealTimers();
    }
    expect(slicesOf(await createPersistStorage(c.store).getItem('persist:root'))).toMatchObject({ a: 'v2 shaped' });
  });

  it('a default never wins over another device’s edit stamped by a clock ahead of this one', async () => {
    const user = uniqueUser('redux-skew');
    const a = client(user);
    const b = client(user);
    await Promise.all([a.ready(), b.ready()]);
    const sa = createPersistStorage(a.store, { timeout: 0 });
    const sb = createPersistStorage(b.store, { timeout: 0 });
    expect(await sb.getItem('persist:root')).toBeNull();
    expect(await sa.getItem('persist:root')).toBeNull();
    vi.useFakeTimers({ now: Date.now() + 3_000, toFake: ['Date'] }); // A's clock is 3 s ahead
    try {
      await sa.setItem('persist:root', state(-1, { a: 'initial' }));
      await sa.setItem('persist:root', state(-1, { a: 'A typed this' }));
      await sa.flush();
    } finally {
      vi.useRealTimers();
    }
    await sb.setItem('persist:root', state(-1, { a: 'initial' }));
    await sb.flush();
    for (const c of [a, b]) {
      await waitFor(async () => slicesOf(await createPersistStorage(c.store).getItem('persist:root'))?.a === 'A typed this', 10_000, 'A’s edit kept');
    }
  });
});
