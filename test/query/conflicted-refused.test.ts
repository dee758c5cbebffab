/**
 * Remote mode: a query meets a key with conflicting leaves and resolves it (a write) before answering. When the server
 * refuses that write (validate_doc_update, a role: 403), the query still answers, with CouchDB's winner (as get() then
 * does): one key's refused resolution does not fail the whole query (found by a review).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient } from '@feat/sdk';
import { userDbName } from '@feat/emulator';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { couch } from '../emulator/helpers.js';

const emu = useEmulator();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function leaves(user: string, id: string): Promise<void> {
  const now = Date.now();
  const docs = [
    { _id: id, _rev: `1-${'a'.repeat(32)}`, doc: { kind: 'newer', n: 1 }, feat: { updatedAt: now } },
    { _id: id, _rev: `1-${'f'.repeat(32)}`, doc: { kind: 'older', n: 2 }, feat: { updatedAt: now - 60_000 } },
  ];
  const put = await couch(emu, user, `/${userDbName(user)}/_bulk_docs`, { method: 'POST', body: { docs, new_edits: false } });
  expect(put.status).toBe(201);
}

describe("remote find over a conflicted key whose resolution the server refuses", () => {
  it('find still answers, with CouchDB’s winner', async () => {
    const proxy = await startFaultProxy(emu.couchUrl);
    cleanups.push(() => proxy.close());
    const user = uniqueUser('cfr');
    const c: FeatClient = createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', maintenance: { enabled: false } });
    cleanups.push(() => c.close().catch(() => undefined));
    await c.ready();
    await c.store.set('c:0', { kind: 'plain', n: 0 });
    await leaves(user, 'c:1');
    proxy.fault(
      (r) => r.method !== 'GET' && !/_find$|_index$|_all_docs$/.test(r.path),
      'answer',
      { status: 403, body: { error: 'forbidden', reason: 'read-only by validate_doc_update' } },
    );
    const got = await c.store.find<{ kind: string }>({ prefix: 'c:' }).then(
      (r) => r.map((x) => x.value.kind),
      (e: unknown) => (isFeatError(e) ? `rejected ${e.code}` : `RAW ${String(e)}`),
    );
    expect(got).toEqual(['plain', 'older']);
  });
});
