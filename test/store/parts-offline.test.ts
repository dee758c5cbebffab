/**
 * `setParts()` writes only the parts whose content changed — judged against what the database holds. A local-first
 * replica cut off from the server (offline, paused) may still hold a part another device has since removed: skipped as
 * "unchanged", this later call's part lost to the earlier removal once it was pulled. Cut off, every part is written.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

const device = (user: string, mode: 'local-first' | 'remote' = 'local-first'): FeatClient =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode, local: { adapter: 'memory' } } as FeatClientOptions));

describe('setParts on a replica cut off from the server', () => {
  for (const how of ['removeParts', 'setParts replace', 'remove(part id)'] as const) {
    it(`another device's ${how} made earlier does not undo a later setParts of the same content`, async () => {
      const user = uniqueUser('parts-off');
      const a = device(user);
      const b = device(user);
      await Promise.all([a.ready(), b.ready()]);
      await a.store.setParts('doc', { a: 'same', b: 'other' });
      await a.sync.waitForPush({ timeout: 10_000 });
      // Both parts (a pull may bring them in two batches: a removeParts between would remove only the first).
      await waitFor(async () => JSON.stringify(await b.store.getParts<string>('doc')) === JSON.stringify({ a: 'same', b: 'other' }), 10_000, 'B has the parts');
      a.sync.pause(); // A is cut off
      if (how === 'removeParts') await b.store.removeParts('doc');
      else if (how === 'setParts replace') await b.store.setParts('doc', { b: 'other' }, { replace: true });
      else await b.store.remove('doc:a');
      await b.sync.waitForPush({ timeout: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      await a.store.setParts('doc', { a: 'same', c: 'new' }); // later, with the content A last stored for `a`
      a.sync.resume();
      await a.sync.waitForPush({ timeout: 10_000 });
      const server = device(user, 'remote');
      const want = how === 'removeParts' ? { a: 'same', c: 'new' } : { a: 'same', b: 'other', c: 'new' };
      await waitFor(async () => JSON.stringify(await b.store.getParts('doc')) === JSON.stringify(want), 10_000, 'B converges').catch(() => undefined);
      expect({ a: await a.store.getParts('doc'), b: await b.store.getParts('doc'), server: await server.store.getParts('doc') }).toEqual({ a: want, b: want, server: want });
    }, 60_000);
  }
});
