/**
 * exportData / importData (remote mode) with a `signal`, while CouchDB holds or stalls the answer: abort ends them at
 * once with `aborted` (before: pending until the request timeout, then `timeout`).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator({ profile: 'couchdb' });
let couch: FaultProxy;
beforeAll(async () => {
  couch = await startFaultProxy(emu.couchUrl);
});
afterAll(async () => {
  await couch.close();
});

const header = () =>
  JSON.stringify({ format: 'feat-export', version: 1, userName: 'x', dbName: 'y', exportedAt: new Date().toISOString(), counts: { keys: 1, parts: 0 } });

it.each([
  { op: 'export', action: 'hold', mode: 'remote' },
  { op: 'export', action: 'stall', mode: 'remote' },
  { op: 'import', action: 'hold', mode: 'remote' },
  { op: 'import', action: 'stall', mode: 'remote' },
] as const)('$op ($mode) with the server on $action: abort ends it at once', async ({ op, action, mode }) => {
  const c = createFeatClient({
    couchUrl: couch.url,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(uniqueUser('es')),
    mode,
    requestTimeout: 20_000,
  } as FeatClientOptions);
  try {
    await c.ready();
    await c.store.set('a', 1);
    couch.fault(() => true, action);
    const ac = new AbortController();
    const t0 = Date.now();
    const p = (op === 'export' ? c.exportData({ signal: ac.signal }) : c.importData(`${header()}\n${JSON.stringify({ key: 'b', value: 2 })}\n`, { signal: ac.signal })).then(
      () => 'ok',
      (e: unknown) => (isFeatError(e) ? e.code : `RAW ${String(e)}`),
    );
    await sleep(800);
    ac.abort();
    const r = await Promise.race([p, sleep(2_000).then(() => 'HANG')]);
    expect(r).toBe('aborted');
    expect(Date.now() - t0).toBeLessThan(800 + 2_000);
  } finally {
    couch.clear();
    couch.release();
    await c.close();
  }
}, 60_000);
