import { describe, expect, it } from 'vitest';
import { createPersistStorage } from '@feat/sdk/redux';
import { sleep, uniqueUser, useEmulator } from '../../support/backend.js';
import { faultyClient, outer, P, settle, stored } from './common.js';

const emu = useEmulator();

describe('remote: first state, `_persist` write faults', () => {
  it('fail-persist: setItem rejects, nothing stored without _persist; flush fails while it keeps failing, then stores all', async () => {
    const user = uniqueUser('z33-fp');
    const { ctl, c } = await faultyClient(emu, user);
    const s = createPersistStorage(c.store, { timeout: 0 });
    await s.getItem('persist:root');
    ctl.fault = 'fail-persist';
    const r1 = await settle(s.setItem('persist:root', outer({ a: 1, b: 2, _persist: P(1) })));
    expect(r1).toMatch(/^rejected/);
    expect(await stored(emu, user)).toBeNull();
    // flush with _persist still failing: must reject and leave nothing without _persist.
    const r2 = await settle(s.flush());
    expect(r2).toMatch(/^rejected/);
    const mid = await stored(emu, user);
    if (mid !== null) expect(mid).toHaveProperty('_persist');
    ctl.fault = 'none';
    const r3 = await settle(s.flush());
    expect(r3).toBe('resolved');
    expect(await stored(emu, user)).toEqual({ a: 1, b: 2, _persist: P(1) });
    // and flush again settles
    expect(await settle(s.flush())).toBe('resolved');
  }, 40_000);

  it('fail-persist then next setItem (an edit) while _persist fails once more: no slice without _persist', async () => {
    const user = uniqueUser('z33-fp2');
    const { ctl, c } = await faultyClient(emu, user);
    const s = createPersistStorage(c.store, { timeout: 0 });
    await s.getItem('persist:root');
    ctl.fault = 'fail-persist';
    await settle(s.setItem('persist:root', outer({ a: 1, b: 2, _persist: P(1) })));
    await settle(s.setItem('persist:root', outer({ a: 5, b: 2, _persist: P(1) })));
    const mid = await stored(emu, user);
    if (mid !== null) expect(mid).toHaveProperty('_persist');
    ctl.fault = 'none';
    const r3 = await settle(s.setItem('persist:root', outer({ a: 6, b: 2, _persist: P(1) })));
    expect(r3).toBe('resolved');
    expect(await settle(s.flush())).toBe('resolved');
    expect(await stored(emu, user)).toEqual({ a: 6, b: 2, _persist: P(1) });
  }, 40_000);

  it('swallow-persist (applied, answer lost): flush stores all, state consistent', async () => {
    const user = uniqueUser('z33-sw');
    const { ctl, c } = await faultyClient(emu, user);
    const s = createPersistStorage(c.store, { timeout: 0 });
    await s.getItem('persist:root');
    ctl.fault = 'swallow-persist';
    ctl.times = 1;
    await settle(s.setItem('persist:root', outer({ a: 1, b: 2, _persist: P(1) })));
    const r2 = await settle(s.flush());
    expect(r2).toBe('resolved');
    expect(await stored(emu, user)).toEqual({ a: 1, b: 2, _persist: P(1) });
  }, 40_000);

  it('stall-persist: setItem + flush settle in bounded time; afterwards everything stored', async () => {
    const user = uniqueUser('z33-st');
    const { ctl, c } = await faultyClient(emu, user, 1500);
    const s = createPersistStorage(c.store, { timeout: 0 });
    await s.getItem('persist:root');
    ctl.fault = 'stall-persist';
    const t0 = Date.now();
    const w = settle(s.setItem('persist:root', outer({ a: 1, b: 2, _persist: P(1) })));
    await sleep(100);
    const f = settle(s.flush());
    const [, rf] = await Promise.all([w, f]);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(rf).toMatch(/^rejected/);
    ctl.fault = 'none';
    expect(await settle(s.flush())).toBe('resolved');
    expect(await stored(emu, user)).toEqual({ a: 1, b: 2, _persist: P(1) });
  }, 40_000);
});
