/**
 * Where navigator.locks exists but refuses the request (a sandboxed or opaque-origin document: SecurityError), a big
 * local-first write (its chunk lock) takes the lock in memory instead: it is written and reads back (it rejected with
 * that raw DOMException).
 */
import { afterEach, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const g = globalThis as { navigator?: unknown };
const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
afterEach(() => {
  if (had) Object.defineProperty(globalThis, 'navigator', had);
  else delete g.navigator;
});

it('a big write where Web Locks refuse: written, and read back whole', async () => {
  const c = emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(uniqueUser('rvl')),
      mode: 'local-first',
      local: { adapter: 'memory' },
      maxDocumentBytes: 100_000,
      maintenance: { enabled: false },
    } as FeatClientOptions),
  );
  await c.ready();
  Object.defineProperty(globalThis, 'navigator', {
    configurable: true,
    value: { locks: { request: () => Promise.reject(new DOMException('The request is insecure.', 'SecurityError')) } },
  });
  const big = 'x'.repeat(300_000);
  const r = await c.store.set('big', big).then(
    () => 'ok',
    (e: unknown) => (isFeatError(e) ? `FeatError ${e.code}` : `RAW ${String(e)}`),
  );
  expect(r).toBe('ok');
  expect(await c.store.get('big')).toBe(big);
});
