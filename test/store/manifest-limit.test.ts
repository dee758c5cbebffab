/**
 * A big value is stored as chunks plus a manifest listing them (~78 bytes per chunk id). With a small request limit
 * (`maxRequestBytes` 64 KiB) a huge value needs a manifest that no request can carry: it was accepted in local-first
 * mode and then refused by every push (the value stayed on one device), and refused in remote mode with advice for
 * another case. Both modes now refuse it before anything is stored, saying what to do; a value whose manifest fits
 * is stored as before. Also: replication's id lists (`_revs_diff`, `_all_docs` keys) with long ids over a small limit
 * are sent in parts (they were refused `too_large`, and waitForPush() never resolved).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClientOptions } from '@feat/sdk';
import { text, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const SMALL = 65_536;

const client = (user: string, mode: 'remote' | 'local-first', maxRequestBytes = SMALL) =>
  emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      maxRequestBytes,
      ...(mode === 'remote' ? { mode } : { local: { adapter: 'memory' } }),
    } as FeatClientOptions),
  );

describe.each(['remote', 'local-first'] as const)('%s, maxRequestBytes 64 KiB', (mode) => {
  it('a 12 MB value (its manifest over the limit) is refused too_large before anything is stored; a 4 MB one is stored and read elsewhere', async () => {
    const user = uniqueUser('manifest');
    const c = client(user, mode);
    await c.ready();
    const error = await c.store.set('huge', text(12_000_000, 7)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFeatError(error) ? `${error.code}: ${error.message}` : String(error)).toMatch(/^too_large: .*manifest.*split it with setParts\(\), or raise the proxy's limit and maxRequestBytes/);
    expect(await c.store.get('huge')).toBeUndefined();
    const v = text(4_000_000, 9);
    await c.store.set('big', v);
    await c.sync.waitForPush({ timeout: 60_000 });
    expect(await c.sync.pending()).toBe(0);
    const reader = client(user, mode === 'remote' ? 'local-first' : 'remote');
    expect((await reader.store.get<string>('big'))?.length).toBe(v.length);
  }, 180_000);
});

it('local-first, 64 KiB: 400 writes with 2,000-character keys reach the server and waitForPush() resolves (id lists sent in parts)', async () => {
  const user = uniqueUser('longids');
  const c = client(user, 'local-first');
  await c.ready();
  const keys = Array.from({ length: 400 }, (_, i) => `${String(i).padStart(4, '0')}/${'x'.repeat(2_000)}`);
  await Promise.all(keys.map((k, i) => c.store.set(k, i)));
  await c.sync.waitForPush({ timeout: 60_000 });
  expect(await c.sync.pending()).toBe(0);
  // A new device pulls them all, then pushes a write of its own.
  const d = client(user, 'local-first');
  await d.ready();
  expect((await d.store.keys()).length).toBe(400);
  await d.store.set('mine', 1);
  await d.sync.waitForPush({ timeout: 60_000 });
  expect(await client(user, 'remote', 0).store.get('mine')).toBe(1);
}, 180_000);
