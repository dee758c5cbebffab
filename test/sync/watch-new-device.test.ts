/**
 * A watch made on a client not started yet (a new device: `watch()` before `ready()`) reports what the first pull brings
 * — other devices' changes made after watch() returned (README: "reports every change made after watch() returned").
 * Found by the chaos attack (seed 6): the feed started from the replica's sequence once ready() had resolved, after the
 * first pull had written everything, and those values were never reported (every run, small and chunked values). The
 * feed of a watch made before the start now starts at the replica's state when it was opened (ChangeWatcherOptions.opened).
 */
import { describe, expect, it } from 'vitest';
import type { ChangeEvent } from '@feat/sdk';
import { clientIn, sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const device = (user: string) => clientIn(emu, user, 'local-first', { maxRequestBytes: 65_536 });
const valueOf = (big: boolean, w: string) => (big ? { w, pad: 'x'.repeat(20_000) } : { w });

describe('a watch made before a new device started', () => {
  for (const big of [false, true]) {
    const kind = big ? 'big (chunked)' : 'small';

    it(`reports a ${kind} value another device writes after watch() returned, before ready()`, async () => {
      const user = uniqueUser('watchnew');
      const a = device(user);
      await a.ready();
      const b = device(user);
      const seen: ChangeEvent[] = [];
      b.store.watch({ prefix: '' }, (e) => seen.push(e));
      await a.store.set('k', valueOf(big, 'after watch()'));
      await a.sync.waitForPush({ timeout: 10_000 });
      await b.ready();
      await waitFor(() => seen.some((e) => e.key === 'k'), 5_000, 'the event of the pulled value');
      expect(seen.find((e) => e.key === 'k')).toMatchObject({ key: 'k', value: valueOf(big, 'after watch()'), origin: 'remote' });
    });

    it(`reports the ${kind} values the first pull brings, also for a watch made once the watch code had loaded`, async () => {
      const user = uniqueUser('watchnew');
      const a = device(user);
      await a.store.set('k', valueOf(big, 'on the server'));
      await a.sync.waitForPush({ timeout: 10_000 });
      const b = device(user);
      // The watch code loads with a first subscription, gone before the one that counts.
      b.store.watch('unrelated', () => undefined)();
      await sleep(200);
      const seen: ChangeEvent[] = [];
      b.store.watch({ prefix: '' }, (e) => seen.push(e));
      await b.ready();
      await waitFor(() => seen.some((e) => e.key === 'k'), 5_000, 'the event of the pulled value');
      expect(seen.find((e) => e.key === 'k')?.value).toEqual(valueOf(big, 'on the server'));
    });
  }

  it('a watch made on a started client reports no earlier change (its feed starts where the replica is)', async () => {
    const user = uniqueUser('watchnew');
    const a = device(user);
    await a.store.set('old', 1);
    await a.sync.waitForPush({ timeout: 10_000 });
    const b = device(user);
    await b.ready();
    const seen: ChangeEvent[] = [];
    b.store.watch({ prefix: '' }, (e) => seen.push(e));
    await sleep(1_000);
    await a.store.set('new', 2);
    await waitFor(() => seen.some((e) => e.key === 'new'), 10_000, 'the new change');
    expect(seen.map((e) => e.key)).toEqual(['new']);
  });
});
