/** Request counts a user pays, on the emulator's `couchdb` profile (and FEAT_BACKEND=real): regression figures. */
import { expect, it } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { persistedApp } from '../redux/helpers.js';
import { counter } from '../support/request-counter.js';

const emu = useEmulator({ profile: 'couchdb' });
const mk = (user: string, c: ReturnType<typeof counter>, mode: 'remote' | 'local-first'): FeatClient =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode, ...(mode === 'local-first' ? { local: { adapter: 'memory' } } : {}), fetch: c.fetch, maintenance: { enabled: false } }));
const paths = (c: ReturnType<typeof counter>) => c.log.map((r) => `${r.method} ${r.path.split('?')[0]}`);
async function cost(c: ReturnType<typeof counter>, fn: () => Promise<unknown>): Promise<string[]> {
  c.reset();
  await fn();
  return paths(c);
}

it('remote: one request per get/set/remove/getParts, two per setParts, no read before a first write', async () => {
  const c = counter();
  const s = mk(uniqueUser('latc'), c, 'remote');
  await s.ready();
  expect(await cost(c, () => s.store.get('x'))).toEqual(['GET /DB/x']);
  expect(await cost(c, () => s.store.set('a', { v: 1 }))).toEqual(['POST /DB/_bulk_docs']); // never read: no read first
  expect(await cost(c, () => s.store.set('a', { v: 2 }))).toEqual(['POST /DB/_bulk_docs']);
  expect(await cost(c, () => s.store.get('a'))).toEqual(['GET /DB/a']);
  expect(await cost(c, () => s.store.remove('a'))).toEqual(['POST /DB/_bulk_docs']);
  expect(await cost(c, () => s.store.setParts('art', { t: 'x', p1: 'a' }))).toEqual(['GET /DB/_all_docs', 'POST /DB/_bulk_docs']);
  expect(await cost(c, () => s.store.getParts('art'))).toEqual(['GET /DB/_all_docs']);
  const q = { prefix: 'q:', selector: { n: { $gt: 0 } }, sort: ['n'] };
  expect((await cost(c, () => s.store.find(q))).filter((p) => p.endsWith('_index')).length).toBeLessThanOrEqual(2);
  expect(await cost(c, () => s.store.find(q))).toEqual(['POST /DB/_find', 'POST /DB/_find']); // index made once
  await s.close();
  // a returning user's start: the token and one database check; a key another client wrote, written unread: one request
  const c2 = counter();
  const s2 = mk((s.session as { userName: string }).userName, c2, 'remote');
  expect(await cost(c2, () => s2.ready())).toEqual(['GET /couchdb/token/', 'GET /DB/']);
  expect(await cost(c2, () => s2.store.set('art', 'whole'))).toEqual(['POST /DB/_bulk_docs']);
}, 30_000);

it('remote: a rotated proxy secret costs one 401, one token request and the retry', async () => {
  const c = counter();
  const s = mk(uniqueUser('latr'), c, 'remote');
  await s.store.set('k', 1);
  emu.rotateSecret();
  expect(await cost(c, () => s.store.get('k'))).toEqual(['GET /DB/k', 'GET /couchdb/token/', 'GET /DB/k']);
  expect(await cost(c, () => s.store.get('k'))).toEqual(['GET /DB/k']);
}, 30_000);

it('redux: 50 actions in one burst are one write (remote)', async () => {
  const c = counter();
  const s = mk(uniqueUser('latx'), c, 'remote');
  await s.ready();
  const app = await persistedApp(createPersistStorage(s.store));
  await app.settle();
  const sent = await cost(c, async () => {
    for (let i = 0; i < 50; i++) app.store.dispatch({ type: 'set', slice: 'a', text: `t${i}` });
    await app.settle();
  });
  expect(sent).toEqual(['POST /DB/_bulk_docs']);
}, 30_000);

it('local-first: idle costs no request; waitForPush with nothing written asks twice; watch and local find read nothing remote', async () => {
  const c = counter();
  const s = mk(uniqueUser('latl'), c, 'local-first');
  await s.ready();
  await s.store.set('a', 1);
  await s.sync.waitForPush({ timeout: 10_000 });
  await new Promise((r) => setTimeout(r, 1500));
  expect(await cost(c, () => s.sync.waitForPush({ timeout: 10_000 }))).toEqual(['GET /DB/', 'POST /DB/_revs_diff']);
  expect(await cost(c, async () => { const u = s.store.watch({ prefix: 'w:' }, () => {}); await new Promise((r) => setTimeout(r, 200)); u(); })).toEqual([]);
  expect(await cost(c, () => s.store.find({ prefix: 'q:', selector: { n: { $gt: 0 } } }))).toEqual([]);
  await new Promise((r) => setTimeout(r, 1500));
  expect(await cost(c, () => new Promise((r) => setTimeout(r, 12_000)))).toEqual([]); // past one 10 s heartbeat
}, 60_000);
