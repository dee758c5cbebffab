/**
 * Real CouchDB only: the pause()/resume() case of refused-checkpoint.test.ts with a real `validate_doc_update` the admin
 * installs on the user's database (no fetch wrapper). Failed before (real): after the second resume `k` is no longer tried
 * (status idle, pending() 1); the rule removed, `k` never reaches the server in this session.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { ON_REAL } from '../support/target.js';

const emu = useEmulator();
const COUCH = process.env.COUCH_URL ?? 'http://127.0.0.1:5984';

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: { _rev?: string; doc?: unknown } }> {
  const { adminFetch } = await import('../support/real-emulator.js');
  const response = await adminFetch(`${COUCH}${path}`, { method, headers: { 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: response.status, json: (await response.json()) as { _rev?: string } };
}

describe.runIf(ON_REAL)('a validate_doc_update refusing k, and pause()/resume() twice (real CouchDB)', () => {
  it('k still refused after each resume (denied), and sent once the rule is removed', async () => {
    const user = uniqueUser('vdu');
    const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, requestTimeout: 8_000 } as never));
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    const { dbName } = await c.ready();
    const rule = { _id: '_design/x', validate_doc_update: "function (doc) { if (doc._id === 'k' && !doc._deleted) throw({ forbidden: 'read-only key' }); }" };
    expect((await admin('PUT', `/${dbName}/_design/x`, rule)).status).toBe(201);
    await c.store.set('k', 'refused value');
    await waitFor(() => errors.some((e) => e.code === 'forbidden' && e.key === 'k'), 20_000, 'refusal');
    for (let i = 0; i < 2; i++) {
      c.sync.pause();
      await waitFor(() => c.sync.status === 'paused', 5_000, 'paused');
      c.sync.resume();
      await sleep(6_000);
    }
    const state = { status: c.sync.status, pending: await c.sync.pending() };
    const current = await admin('GET', `/${dbName}/_design/x`);
    await admin('DELETE', `/${dbName}/_design/x?rev=${current.json._rev}`);
    let arrived: unknown;
    await waitFor(async () => (arrived = (await admin('GET', `/${dbName}/k`)).json.doc) !== undefined, 40_000, 'k on the server').catch(() => undefined);
    expect({ state, arrived }).toEqual({ state: { status: 'denied', pending: 1 }, arrived: 'refused value' });
  }, 120_000);
});
