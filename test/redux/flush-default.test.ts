/**
 * A device's first write of a slice it rehydrated without (the reducer's initial state) is a default: another
 * device's version wins over it. When that write fails and storage.flush() sends it again, it must still be a default,
 * not a fresh write that replaces the other device's real edit.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { useFaultProxy, type FaultRequest } from '../support/fault-proxy.js';

const emu = useEmulator();
const proxy = useFaultProxy(() => emu.couchUrl);

const client = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClient =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', ...extra } as FeatClientOptions));
const isWrite = (r: FaultRequest) => r.method === 'PUT' || r.method === 'DELETE' || /_bulk_docs$/.test(r.path);

const P = JSON.stringify({ version: -1, rehydrated: true });
const state = (a: string) => JSON.stringify({ a: JSON.stringify(a), _persist: P });

describe('a failed default sent again by flush()', () => {
  it("stays a default: another device's edit made meanwhile is kept", async () => {
    const user = uniqueUser('fx2-def');
    const b = client(user, { couchUrl: proxy.url, requestTimeout: 3_000 });
    const sb = createPersistStorage(b.store);
    expect(await sb.getItem('persist:root')).toBe(null);
    const off = proxy.fault(isWrite, 'reset');
    await sb.setItem('persist:root', state('initial')).catch(() => undefined);
    off();
    // Another device edits the slice (its second write: not a default).
    const a = client(user);
    const sa = createPersistStorage(a.store);
    expect(await sa.getItem('persist:root')).toBe(null);
    await sa.setItem('persist:root', state('initial'));
    await sa.setItem('persist:root', state('edited on A'));
    await sa.flush();
    // B's flush sends its failed default again.
    await sb.flush().catch(() => undefined);
    const reader = client(user);
    expect(await createPersistStorage(reader.store).getItem('persist:root')).toBe(state('edited on A'));
  }, 30_000);

  it('control: the same default written late (not failed, only slow) loses to the edit', async () => {
    const user = uniqueUser('fx2-def2');
    const b = client(user, { couchUrl: proxy.url, requestTimeout: 5_000 });
    const sb = createPersistStorage(b.store);
    expect(await sb.getItem('persist:root')).toBe(null);
    const a = client(user);
    const sa = createPersistStorage(a.store);
    expect(await sa.getItem('persist:root')).toBe(null);
    await sa.setItem('persist:root', state('initial'));
    await sa.setItem('persist:root', state('edited on A'));
    await sa.flush();
    await sb.setItem('persist:root', state('initial'));
    await sb.flush();
    const reader = client(user);
    expect(await createPersistStorage(reader.store).getItem('persist:root')).toBe(state('edited on A'));
  }, 30_000);
});
