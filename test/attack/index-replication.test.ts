/**
 * Index design documents replicate (README, Queries): an index one device made must serve the user's other devices —
 * whichever mode made it and whichever server stored it.
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { LOCAL, REMOTE, clientFor } from './helpers.js';

const emu = useEmulator();

describe('a sort index made on the server serves a local-first device', () => {
  it('remote device sorts first (index created on the server), then a new local-first device sorts on the same field', async () => {
    const user = uniqueUser('idx');
    const a = clientFor(emu, user, REMOTE);
    await a.ready();
    await a.store.set('k1', { n: 2 });
    await a.store.set('k2', { n: 1 });
    expect((await a.store.find<{ n: number }>({ sort: ['n'] })).map((r) => r.key)).toEqual(['k2', 'k1']);
    const b = clientFor(emu, user, LOCAL);
    await b.ready();
    await waitFor(async () => (await b.store.keys()).length === 2, 20_000, 'pull');
    expect((await b.store.find<{ n: number }>({ sort: ['n'] })).map((r) => r.key)).toEqual(['k2', 'k1']);
    expect((await b.store.find<{ n: number }>({ sort: [{ n: 'desc' }] })).map((r) => r.key)).toEqual(['k1', 'k2']);
  });

  it('an index declared with a name on a remote device, then the same declaration on a local-first device', async () => {
    const user = uniqueUser('idx2');
    const a = clientFor(emu, user, { ...REMOTE, indexes: [{ fields: ['due'], name: 'by-due' }] });
    await a.ready();
    await a.store.set('x1', { due: 3 });
    await a.store.set('x2', { due: 1 });
    expect((await a.store.find({ sort: ['due'] })).map((r) => r.key)).toEqual(['x2', 'x1']);
    const b = clientFor(emu, user, { ...LOCAL, indexes: [{ fields: ['due'], name: 'by-due' }] });
    await b.ready();
    await waitFor(async () => (await b.store.keys()).length === 2, 20_000, 'pull');
    expect((await b.store.find({ sort: ['due'] })).map((r) => r.key)).toEqual(['x2', 'x1']);
    expect((await b.store.find({ selector: { due: { $gt: 2 } } })).map((r) => r.key)).toEqual(['x1']);
  });

  it('local-first device sorts first (index pushed to the server), then a remote device sorts', async () => {
    const user = uniqueUser('idx3');
    const a = clientFor(emu, user, LOCAL);
    await a.ready();
    await a.store.set('k1', { n: 2 });
    await a.store.set('k2', { n: 1 });
    expect((await a.store.find<{ n: number }>({ sort: ['n'] })).map((r) => r.key)).toEqual(['k2', 'k1']);
    await a.sync.waitForPush({ timeout: 15_000 });
    const b = clientFor(emu, user, REMOTE);
    await b.ready();
    expect((await b.store.find<{ n: number }>({ sort: ['n'] })).map((r) => r.key)).toEqual(['k2', 'k1']);
    const c = clientFor(emu, user, LOCAL);
    await c.ready();
    await waitFor(async () => (await c.store.keys()).length === 2, 20_000, 'pull');
    expect((await c.store.find<{ n: number }>({ sort: [{ n: 'desc' }] })).map((r) => r.key)).toEqual(['k1', 'k2']);
  });

  it('two devices (remote and local-first) sort on a new field at the same time; both keep sorting afterwards', async () => {
    const user = uniqueUser('idx4');
    const w = clientFor(emu, user, REMOTE);
    await w.ready();
    for (let i = 0; i < 5; i++) await w.store.set(`k${i}`, { n: 10 - i });
    const remote = clientFor(emu, user, REMOTE);
    const local = clientFor(emu, user, LOCAL);
    await Promise.all([remote.ready(), local.ready()]);
    await waitFor(async () => (await local.store.keys()).length === 5, 20_000, 'pull');
    const expected = ['k4', 'k3', 'k2', 'k1', 'k0'];
    const [r, l] = await Promise.allSettled([remote.store.find({ sort: ['n'] }), local.store.find({ sort: ['n'] })]);
    expect(r.status === 'fulfilled' ? r.value.map((x) => x.key) : r.reason).toEqual(expected);
    expect(l.status === 'fulfilled' ? l.value.map((x) => x.key) : l.reason).toEqual(expected);
    // Once both index documents met (replication), every later sorted query still works on both.
    await local.sync.waitForPush({ timeout: 15_000 });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (const c of [remote, local]) {
      const again = await c.store.find({ sort: [{ n: 'desc' }], limit: 3 }).then((rs) => rs.map((x) => x.key), (e: unknown) => e);
      expect(again).toEqual(['k0', 'k1', 'k2']);
    }
  });

  it('a local-first device that made the index offline, then meets the one a remote device made on the server: both keep sorting', async () => {
    const user = uniqueUser('idx5');
    const w = clientFor(emu, user, REMOTE);
    await w.ready();
    for (let i = 0; i < 4; i++) await w.store.set(`k${i}`, { n: 10 - i });
    const local = clientFor(emu, user, LOCAL);
    await local.ready();
    await waitFor(async () => (await local.store.keys()).length === 4, 20_000, 'pull');
    local.sync.pause();
    const expected = ['k3', 'k2', 'k1', 'k0'];
    expect((await local.store.find({ sort: ['n'] })).map((x) => x.key)).toEqual(expected);
    const remote = clientFor(emu, user, REMOTE);
    await remote.ready();
    expect((await remote.store.find({ sort: ['n'] })).map((x) => x.key)).toEqual(expected);
    local.sync.resume();
    await local.sync.waitForPush({ timeout: 15_000 });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const errors: string[] = [];
    local.sync.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    const sorted = (c: typeof local) => c.store.find({ sort: [{ n: 'desc' }], limit: 3 }).then((rs) => rs.map((x) => x.key), String);
    // A third device, new, sorts too.
    const third = clientFor(emu, user, LOCAL);
    await third.ready();
    await waitFor(async () => (await third.store.keys()).length === 4, 20_000, 'pull');
    const want = ['k0', 'k1', 'k2'];
    const plain = (c: typeof local) => c.store.find({ selector: { n: { $gte: 9 } } }).then((rs) => rs.map((x) => x.key).sort(), (e: unknown) => `${String(e)} ${JSON.stringify(e)}`); // order: find-parity.test.ts
    expect({ local: await sorted(local), remote: await sorted(remote), third: await sorted(third), localPlain: await plain(local), remotePlain: await plain(remote), errors }).toEqual({
      local: want,
      remote: want,
      third: want,
      localPlain: ['k0', 'k1'],
      remotePlain: ['k0', 'k1'],
      errors: [],
    });
  });

  it('an app resolver never sees the SDK’s own index documents (two devices made the same index differently)', async () => {
    const user = uniqueUser('idx6');
    const w = clientFor(emu, user, REMOTE);
    await w.ready();
    await w.store.set('k1', { n: 1 });
    const seen: string[] = [];
    const local = clientFor(emu, user, {
      ...LOCAL,
      onConflict: (c) => {
        seen.push(c.key);
        return c.local.value;
      },
    });
    await local.ready();
    await waitFor(async () => (await local.store.keys()).length === 1, 20_000, 'pull');
    local.sync.pause();
    await local.store.find({ sort: ['n'] });
    await w.store.find({ sort: ['n'] });
    local.sync.resume();
    await local.sync.waitForPush({ timeout: 15_000 });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(seen.filter((k) => k.startsWith('_'))).toEqual([]);
  });
});
