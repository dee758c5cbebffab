import { describe, expect, it } from 'vitest';
import { createPersistStorage } from '@feat/sdk/redux';
import { sleep, uniqueUser, useEmulator } from '../../support/backend.js';
import { faultyFetch, mk, outer, P, settle } from './common.js';

const emu = useEmulator();

describe('a resent first state (`_persist` failed before): a reader never finds slices without `_persist`', () => {
  it.each([['flush'], ['setItem']])('5 rounds, 30 slices, %s resends while another device polls', async (how) => {
    const torn: string[] = [];
    for (let round = 0; round < 5; round++) {
      const user = uniqueUser('z33-tr');
      const { ctl, fetchFn } = faultyFetch();
      const w = mk(emu, user, { fetch: fetchFn, requestTimeout: 2000 });
      const r = mk(emu, user);
      await w.ready();
      await r.ready();
      const s = createPersistStorage(w.store, { timeout: 0 });
      await s.getItem('persist:root');
      const state = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`s${i}`, `v${i}`]));
      ctl.fault = 'fail-persist';
      await settle(s.setItem('persist:root', outer({ ...state, _persist: P(3) })));
      ctl.fault = 'none';
      const reader = createPersistStorage(r.store, { timeout: 0 });
      let stop = false;
      const poll = (async () => {
        while (!stop) {
          const raw = await reader.getItem('persist:root').catch(() => null);
          if (raw !== null && !('_persist' in (JSON.parse(raw) as object))) torn.push(`round ${round}: ${Object.keys(JSON.parse(raw)).length} slices`);
          await sleep(1);
        }
      })();
      await sleep(20);
      const f = await settle(how === 'flush' ? s.flush() : s.setItem('persist:root', outer({ ...state, s0: 'edited', _persist: P(3) })));
      await sleep(50);
      stop = true;
      await poll;
      expect(f).toBe('resolved');
      await w.close();
      await r.close();
    }
    expect(torn.slice(0, 3)).toEqual([]);
  }, 90_000);
});
