/**
 * Parts (`key:subkey`) and expiry: `setParts` skips a part only when its stored copy is already this content, and a
 * copy that expires is not the same content as one without a ttl (or with another expiry). A part written with a ttl
 * and listed again in `setParts` with the same value was skipped: an expired one stayed gone, a live one still expired.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

describe.each([
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first', options: { mode: 'local-first', local: { adapter: 'memory' } } },
] as const)('parts and ttl: $name', ({ options }) => {
  function client(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
    return emu.track(
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), maintenance: { enabled: false }, ...options, ...extra } as FeatClientOptions),
    );
  }

  it('an expired part set again with the same content through setParts is stored again (not skipped as unchanged)', async () => {
    const c = client(uniqueUser('pttl'));
    await c.ready();
    await c.store.set('doc:p', 'hello', { ttl: 1_000 });
    expect(await c.store.getParts('doc')).toEqual({ p: 'hello' });
    await sleep(1_300);
    expect(await c.store.getParts('doc')).toEqual({});
    // The user types the same text again: the app saves its object as parts.
    await c.store.setParts('doc', { p: 'hello', q: 'world' });
    expect(await c.store.getParts('doc')).toEqual({ p: 'hello', q: 'world' });
    expect(await c.store.get('doc:p')).toBe('hello');
  });

  it('a part with a ttl, saved again without one through setParts (same content): it must no longer expire', async () => {
    const c = client(uniqueUser('pttl2'));
    await c.ready();
    await c.store.set('doc:p', 'keep me', { ttl: 1_500 });
    // Before it expires, the app saves the object as parts (no ttl: permanent now).
    await c.store.setParts('doc', { p: 'keep me' });
    await sleep(2_000);
    expect(await c.store.getParts('doc')).toEqual({ p: 'keep me' });
  });

  it('a plain set() of an expired key with the same value is stored again (control)', async () => {
    const c = client(uniqueUser('pttl3'));
    await c.store.set('doc:p', 'hello', { ttl: 300 });
    await sleep(600);
    await c.store.set('doc:p', 'hello');
    expect(await c.store.getParts('doc')).toEqual({ p: 'hello' });
  });
});
