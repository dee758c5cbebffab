/**
 * A key with a long history under a small `maxRequestBytes`, after the user's database was made again (an emulator
 * restarted in memory: every device pushes everything back): the history cut to fit a request (transport/body-limit.ts)
 * keeps as many revision ids as fit, so a device behind on that key joins the same line of edits on the server (no
 * conflict, one leaf). The review of session 34: a first version cut to one id for a document the server never held,
 * and the device behind made a second leaf (and, its own history too long, stayed `error` with pending 1).
 */
import { afterEach, expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { startEmulator, type Emulator } from '@feat/emulator';
import { uniqueUser, waitFor } from '../support/backend.js';
import { couch } from '../emulator/helpers.js';

const SECRET = 'long-history-recreated-secret';
const LIMIT = 8_192;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const clientOf = (on: Emulator, user: string): FeatClient => {
  const c = createFeatClient({ couchUrl: on.couchUrl, accountsUrl: on.accountsUrl, auth: on.bearerFor(user), local: { adapter: 'memory' }, maxRequestBytes: LIMIT, requestTimeout: 5_000 });
  cleanups.push(() => c.close().catch(() => undefined));
  return c;
};

/**
 * A edits the key `behindAt` times, B reads it and pauses, A edits on to `total`; the database is made again (the
 * emulator restarted in memory on the same ports) and A pushes everything back. B, behind, resumes.
 */
async function recreatedWithDeviceBehind(behindAt: number, total: number) {
  let emu = await startEmulator({ port: 0, secret: SECRET, maxRequestBytes: LIMIT });
  cleanups.push(() => emu.stop());
  const user = uniqueUser('cut-one');
  const a = clientOf(emu, user);
  const { dbName } = await a.ready();
  const edit = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      await a.store.set('k', i);
      if (i % 25 === 24) await a.sync.waitForPush({ timeout: 15_000 });
    }
  };
  await edit(0, behindAt);
  const b = clientOf(emu, user);
  await b.ready();
  await waitFor(async () => (await b.store.get('k')) === behindAt - 1, 15_000, `b has ${behindAt - 1}`);
  b.sync.pause();
  await edit(behindAt, total);
  const ports = emu.ports;
  await emu.stop();
  emu = await startEmulator({ secret: SECRET, port: ports.couch, accountsPort: ports.accounts, apiPort: ports.api, maxRequestBytes: LIMIT });
  cleanups.push(() => emu.stop());
  await a.store.set('x', 1);
  await a.sync.waitForPush({ timeout: 30_000 });
  const errors: string[] = [];
  b.sync.on('error', (e) => errors.push(`${e.code}: ${e.message.slice(0, 100)}`));
  b.sync.resume();
  await b.sync.waitForPush({ timeout: 30_000 });
  await new Promise((r) => setTimeout(r, 2_000));
  const all = (await couch(emu, user, `/${dbName}/_all_docs?include_docs=true&conflicts=true`)).json as { rows: { id: string; doc: { _rev: string; _conflicts?: string[] } }[] };
  const conflicted = all.rows.filter((r) => r.doc._conflicts?.length).map((r) => ({ id: r.id, rev: r.doc._rev, conflicts: r.doc._conflicts }));
  const kId = all.rows.find((r) => r.id.endsWith('k'))?.id ?? 'k';
  const leaves = (await couch(emu, user, `/${dbName}/${encodeURIComponent(kId)}?open_revs=all&revs=true`, { headers: { Accept: 'application/json' } })).json as unknown[];
  return { b, errors, conflicted, leaves: leaves.length };
}

it('a key edited 300 times, the database made again, a device 200 edits behind comes back: no conflict on the server', async () => {
  const { conflicted, leaves } = await recreatedWithDeviceBehind(100, 300);
  expect(conflicted).toEqual([]);
  expect(leaves).toBe(1);
}, 180_000);

it('a key edited 320 times, the database made again, a device behind with a history too long itself comes back: no error, one leaf', async () => {
  const { b, errors, conflicted, leaves } = await recreatedWithDeviceBehind(250, 320);
  expect({ errors, b: await b.store.get('k') }).toEqual({ errors: [], b: 319 });
  expect(conflicted).toEqual([]);
  expect(leaves).toBe(1);
}, 180_000);
