/**
 * Local-first devices ahead of a server that went back in time: a user's database restored from an older backup, or
 * made again empty (test/support/rollback.ts says how each backend is rolled back). What the devices still hold goes
 * back to the server by itself; waitForPush() and pending() never say the server has what it lost (sync/continuity.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientOf, rollback, serverValues, tmpReplica, type Rollback } from '../support/rollback.js';

const emu = useEmulator();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const track = (c: FeatClient) => cleanups.push(() => c.close().catch(() => undefined));
async function env(): Promise<Rollback> {
  const r = await rollback(emu);
  cleanups.push(() => r.cleanup());
  return r;
}
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => `k${String(a + i).padStart(2, '0')}`);

describe('local-first device ahead of a restored server', () => {
  it('case 1: k11..k20 come back by themselves while the client runs, and a fresh device reads all 20', async () => {
    const r = await env();
    const user = uniqueUser('rb1');
    const a = clientOf(r.server(), user, {}, track);
    const { dbName } = await a.ready();
    for (const k of range(1, 10)) await a.store.set(k, `v-${k}`);
    await a.sync.waitForPush({ timeout: 20_000 });
    await r.snapshot(dbName);
    for (const k of range(11, 20)) await a.store.set(k, `v-${k}`);
    await a.sync.waitForPush({ timeout: 20_000 });
    await r.restore(dbName, { downMs: 4_000 });
    expect(Object.keys(await serverValues(r.server(), user)).length).toBe(10);
    await waitFor(async () => Object.keys(await serverValues(r.server(), user)).length === 20, 60_000, 'k11..k20 back on the server');
    const fresh = clientOf(r.server(), user, {}, track);
    await fresh.ready();
    for (const k of range(1, 20)) expect(await fresh.store.get(k)).toBe(`v-${k}`);
  }, 120_000);

  it('waitForPush() called right after the restore resolves only once the server has every value again', async () => {
    const r = await env();
    const user = uniqueUser('rbwait');
    const a = clientOf(r.server(), user, {}, track);
    const { dbName } = await a.ready();
    for (const k of range(1, 10)) await a.store.set(k, `v-${k}`);
    await a.sync.waitForPush({ timeout: 20_000 });
    await r.snapshot(dbName);
    for (const k of range(11, 20)) await a.store.set(k, `v-${k}`);
    await a.sync.waitForPush({ timeout: 20_000 });
    await r.restore(dbName);
    // "everything written before the call is on the server"
    await a.sync.waitForPush({ timeout: 60_000 });
    const onServer = Object.keys(await serverValues(r.server(), user)).sort();
    expect(onServer, 'waitForPush() resolved while the server lacked these').toEqual(range(1, 20));
  }, 120_000);

  it('a write after the restore, then waitForPush(): it resolves only once the server has the values it lost too', async () => {
    const r = await env();
    const user = uniqueUser('rbwrite');
    const a = clientOf(r.server(), user, {}, track);
    const { dbName } = await a.ready();
    for (const k of range(1, 10)) await a.store.set(k, `v-${k}`);
    await a.sync.waitForPush({ timeout: 20_000 });
    await r.snapshot(dbName);
    for (const k of range(11, 20)) await a.store.set(k, `v-${k}`);
    await a.sync.waitForPush({ timeout: 20_000 });
    await r.restore(dbName);
    // The new write's own confirmation reaches the call's target; the values verified before the restore are not
    // asked about again by it.
    await a.store.set('k21', 'v-k21');
    await a.sync.waitForPush({ timeout: 60_000 });
    const onServer = Object.keys(await serverValues(r.server(), user)).sort();
    expect(onServer, 'waitForPush() resolved while the server lacked these').toEqual(range(1, 21));
  }, 120_000);

  it('a restore while sync is paused: waitForPush() does not say the lost writes are on the server; resumed, they go back', async () => {
    const r = await env();
    const user = uniqueUser('rbpause');
    const a = clientOf(r.server(), user, {}, track);
    const { dbName } = await a.ready();
    for (const k of range(1, 5)) await a.store.set(k, `v-${k}`);
    await a.sync.waitForPush({ timeout: 20_000 });
    await r.snapshot(dbName);
    for (const k of range(6, 10)) await a.store.set(k, `v-${k}`);
    await a.sync.waitForPush({ timeout: 20_000 });
    await r.restore(dbName);
    a.sync.pause();
    const outcome = await a.sync.waitForPush({ timeout: 6_000 }).then(
      () => 'resolved',
      (e: { code?: string }) => `rejected ${e.code}`,
    );
    expect({ outcome, onServer: Object.keys(await serverValues(r.server(), user)).length }).toEqual({ outcome: 'rejected timeout', onServer: 5 });
    a.sync.resume();
    await waitFor(async () => Object.keys(await serverValues(r.server(), user)).length === 10, 60_000, 'repaired after resume');
  }, 120_000);

  it('a fourth restore in one session is repaired like the first three', async () => {
    const r = await env();
    const user = uniqueUser('rb4');
    const a = clientOf(r.server(), user, {}, track);
    const { dbName } = await a.ready();
    await r.snapshot(dbName); // empty
    for (let round = 1; round <= 4; round++) {
      await a.store.set(`round${round}`, round);
      await a.sync.waitForPush({ timeout: 20_000 });
      await r.restore(dbName, { downMs: 4_000 });
      await waitFor(
        async () => Object.keys(await serverValues(r.server(), user)).length === round,
        60_000,
        `restore #${round}: the ${round} values back on the server`,
      ).catch(async (e: Error) => {
        throw new Error(`${e.message}; server has ${JSON.stringify(await serverValues(r.server(), user))}, pending()=${await a.sync.pending()}, status=${a.sync.status}`);
      });
    }
  }, 300_000);

  it('case 2: the database made again empty (emulator: restored to right after sign-up): everything re-pushed, another device sees it all', async () => {
    const r = await env();
    const user = uniqueUser('rb2');
    const a = clientOf(r.server(), user, {}, track);
    const { dbName } = await a.ready();
    await r.snapshot(dbName);
    for (const k of range(1, 20)) await a.store.set(k, `v-${k}`);
    await a.store.setParts('doc', { title: 't', p1: 'one', p2: 'two' });
    await a.sync.waitForPush({ timeout: 20_000 });
    await r.restore(dbName, { downMs: 4_000 });
    await waitFor(async () => Object.keys(await serverValues(r.server(), user)).length === 23, 60_000, 'everything back');
    const b = clientOf(r.server(), user, {}, track);
    await b.ready();
    expect(await b.store.getParts('doc')).toEqual({ title: 't', p1: 'one', p2: 'two' });
    expect(await b.store.get('k20')).toBe('v-k20');
    await waitFor(async () => (await a.sync.pending()) === 0, 20_000, 'pending() 0');
  }, 120_000);

  it('case 1 after a restart: the app closed during the restore, reopened later', async () => {
    const r = await env();
    const user = uniqueUser('rbre');
    const rep = tmpReplica();
    cleanups.push(rep.cleanup);
    const a = clientOf(r.server(), user, { local: rep.local }, track);
    const { dbName } = await a.ready();
    for (const k of range(1, 10)) await a.store.set(k, `v-${k}`);
    await a.sync.waitForPush({ timeout: 20_000 });
    await r.snapshot(dbName);
    for (const k of range(11, 20)) await a.store.set(k, `v-${k}`);
    await a.sync.waitForPush({ timeout: 20_000 });
    await a.close();
    await r.restore(dbName);
    const again = clientOf(r.server(), user, { local: rep.local }, track);
    await again.ready();
    await waitFor(async () => Object.keys(await serverValues(r.server(), user)).length === 20, 60_000, 'k11..k20 back');
  }, 120_000);

  it('removals and ttl values made after the backup go back too, even when other devices wrote after the restore', async () => {
    const r = await env();
    const user = uniqueUser('rbttl');
    const rep = tmpReplica();
    cleanups.push(rep.cleanup);
    const a = clientOf(r.server(), user, { local: rep.local }, track);
    const { dbName } = await a.ready();
    for (const k of range(1, 5)) await a.store.set(k, `v-${k}`);
    await a.sync.waitForPush({ timeout: 20_000 });
    await r.snapshot(dbName);
    await a.store.remove('k01');
    await a.store.remove('k02');
    for (let i = 0; i < 3; i++) await a.store.set(`draft${i}`, `text ${i}`, { ttl: 7 * 24 * 3600_000 });
    await a.sync.waitForPush({ timeout: 20_000 });
    await a.close();
    await r.restore(dbName);
    // The web app (remote mode) keeps being used meanwhile.
    const web = clientOf(r.server(), user, { mode: 'remote' }, track);
    for (let i = 0; i < 30; i++) await web.store.set(`web${i}`, i);
    const again = clientOf(r.server(), user, { local: rep.local }, track);
    await again.ready();
    // the device sees the web app's writes
    await waitFor(async () => (await again.store.keys('web')).length === 30, 30_000, 'the web writes on the device').catch(async (e: Error) => {
      throw new Error(`${e.message}: device has ${(await again.store.keys('web')).length}`);
    });
    await waitFor(
      async () => {
        const s = await serverValues(r.server(), user);
        return !('k01' in s) && !('k02' in s) && ['draft0', 'draft1', 'draft2'].every((k) => k in s);
      },
      40_000,
      'the removals and drafts on the server',
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}: server keys ${Object.keys(await serverValues(r.server(), user)).filter((k) => !k.startsWith('web')).join(',')}; device says pending()=${await again.sync.pending()}`);
    });
  }, 180_000);
});
