/**
 * A device offline for a long time removes a key that the other devices kept editing, with conflicts between them
 * (each resolution leaves the loser as a deleted leaf). The removal is the latest write: per the README ("a later
 * removal beats an earlier concurrent write") it must win on every device and on the server.
 */
import { describe, expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device, raw } from '../support/devices.js';

const emu = useEmulator();

describe('a long-offline removal after many resolved conflicts', () => {
  for (const rounds of [2, 10]) {
    it(`the later removal wins after ${rounds} resolved conflicts on the other devices`, async () => {
      const user = uniqueUser('lor');
      const a = device(emu, user, { name: 'A' });
      const c = device(emu, user, { name: 'C' });
      const b = device(emu, user, { name: 'B', adapter: 'leveldb' });
      const r = device(emu, user, { name: 'R', mode: 'remote' });
      await a.store.set('k', 'v0');
      await a.sync.waitForPush({ timeout: 20_000 });
      await Promise.all([b.ready(), c.ready()]);
      for (const d of [b, c]) await waitFor(async () => (await d.store.get('k')) === 'v0', 20_000, `${d.name} v0`);
      b.sync.pause();
      const server = await raw(emu, user);
      for (let i = 0; i < rounds; i++) {
        a.sync.pause();
        c.sync.pause();
        await a.store.set('k', `a${i}`);
        await c.store.set('k', `c${i}`);
        a.sync.resume();
        c.sync.resume();
        await waitFor(
          async () => {
            const [va, vc, doc] = await Promise.all([a.store.get('k'), c.store.get('k'), server.doc('k')]);
            return va === `c${i}` && vc === `c${i}` && !doc.body._conflicts?.length && doc.body.doc === `c${i}`;
          },
          20_000,
          `round ${i} converged`,
        );
      }
      const deletedLeaves = (await server.leaves('k')).filter((l) => l.deleted).length;
      await sleep(50);
      // B, offline all along, removes the key: the latest write of all.
      await b.store.remove('k');
      b.sync.resume();
      let last = '';
      await waitFor(
        async () => {
          const values = await Promise.all([a, c, b, r].map((d) => d.store.get('k')));
          const doc = await server.doc('k');
          last = JSON.stringify({ values, server: doc.status, conflicts: doc.body._conflicts ?? [] });
          return values.every((v) => v === undefined) && doc.status === 404;
        },
        20_000,
        'the removal everywhere',
      ).catch(() => undefined);
      expect(last, `${deletedLeaves} deleted leaves on the server before the removal`).toBe(JSON.stringify({ values: [null, null, null, null], server: 404, conflicts: [] }));
    }, 120_000);
  }
});
