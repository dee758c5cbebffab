/**
 * A pulled revision nested deeper than the replica holds comes to it without its value (live-pull.ts). It is the
 * server's revision, never this device's to send: a server restored from a backup that lacks it must not get the
 * valueless revision pushed over the restored value (the restore repair re-sends what the server lacks).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { rawDatabase } from '../support/resolver-harness.js';
import { clientOf, rollback, serverValues, type Rollback } from '../support/rollback.js';
import { ON_REAL } from '../support/target.js';

const emu = useEmulator();
const DEEP = ON_REAL ? 5_000 : 1_500;
const arrays = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('a stub and the restore repair', () => {
  it('a server restored from a backup that lacks the deep revision: the device must not push its valueless stub over the restored value', async () => {
    const rb: Rollback = await rollback(emu);
    cleanups.push(() => rb.cleanup());
    const user = uniqueUser('stub-rst');
    const a = clientOf(rb.server(), user, {}, (c: FeatClient) => cleanups.push(() => c.close().catch(() => undefined)));
    const errors: { code: string; key?: string | undefined }[] = [];
    a.sync.on('error', (e) => errors.push({ code: e.code, key: e.key }));
    const { dbName } = await a.ready();
    await a.store.set('x', { status: 'old' });
    await a.store.set('k1', 1);
    await a.sync.waitForPush({ timeout: 20_000 });
    await rb.snapshot(dbName);
    // After the backup: another app replaces x by a too-deep value; the device pulls it as a stub.
    const { url, headers } = await rawDatabase(rb.server(), user);
    const cur = (await (await fetch(`${url}/x`, { headers })).json()) as { _rev: string };
    const put = await fetch(`${url}/x`, { method: 'PUT', headers, body: `{"_rev":"${cur._rev}","doc":${arrays(DEEP)}}` });
    expect(put.status).toBe(201);
    const deepRev = ((await put.json()) as { rev: string }).rev;
    await waitFor(async () => errors.some((e) => e.code === 'invalid_value' && e.key === 'x'), 60_000, 'the stub pulled');
    await a.store.set('k2', 2);
    await a.sync.waitForPush({ timeout: 20_000 });
    await rb.restore(dbName, { downMs: 4_000 });
    await waitFor(async () => (await serverValues(rb.server(), user)).k2 === 2, 90_000, 'k2 back on the server (repair ran)');
    await new Promise((res) => setTimeout(res, 3_000));
    const after = await rawDatabase(rb.server(), user);
    const x = (await (await fetch(`${after.url}/x?revs_info=true`, { headers: after.headers })).json()) as Record<string, unknown>;
    const diff = (await (await fetch(`${after.url}/_revs_diff`, { method: 'POST', headers: after.headers, body: JSON.stringify({ x: [deepRev] }) })).json()) as Record<string, unknown>;
    // The restored server held { status: 'old' }; the device never held the deep value. Pushing the stub replaces the
    // restored value by nothing, and tells any replicator of the other app that the server already has the deep
    // revision (`_revs_diff`: not missing), so the deep value can never come back either.
    expect({ rev: x._rev, doc: x.doc, deepRevMissingOnServer: 'x' in diff }).toEqual({ rev: expect.any(String), doc: { status: 'old' }, deepRevMissingOnServer: true });
  }, 240_000);
});
