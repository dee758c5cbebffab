import { describe, expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator, waitFor } from '../../support/backend.js';
import { bootstrapped } from '../helpers.js';
import { app, faultyClient, mk, settle, stored } from './common.js';

const emu = useEmulator();


describe('a first state whose `_persist` failed, resent after another device stored live values', () => {
  it.each([[true], [false]])('sync=%s: the resent defaults do not overwrite B\'s edits; A\'s own edit is kept', async (sync) => {
    const user = uniqueUser('z33-dr');
    const { ctl, c: ca } = await faultyClient(emu, user);
    ctl.fault = 'fail-persist';
    const A = app(ca, { sync: sync });
    await bootstrapped(A.persistor);
    await settle(A.settleAll());
    // A's edit of b while _persist still fails
    A.store.dispatch({ type: 'set', slice: 'b', text: 'A-b' });
    await settle(A.settleAll());
    expect(await stored(emu, user)).toBeNull();
    // B starts (nothing stored), edits c
    const cb = mk(emu, user);
    const B = app(cb, { sync: true });
    await bootstrapped(B.persistor);
    await B.settleAll();
    B.store.dispatch({ type: 'set', slice: 'c', text: 'B-c' });
    B.store.dispatch({ type: 'set', slice: 'a', text: 'B-a' });
    await B.settleAll();
    if (sync) await waitFor(() => A.state().c.text === 'B-c', 8000).catch(() => {});
    ctl.fault = 'none';
    const r2 = await settle(A.settleAll());
    await sleep(500);
    const s = await stored(emu, user);
    expect(r2).toBe('resolved');
    expect(s).toEqual({ a: { text: 'B-a' }, b: { text: 'A-b' }, c: { text: 'B-c' }, _persist: { version: 1, rehydrated: true } });
    if (sync) {
      await waitFor(() => B.state().b.text === 'A-b' && A.state().a.text === 'B-a' && A.state().c.text === 'B-c', 8000);
    }
    A.stop();
    B.stop();
  }, 40_000);
});

describe('persistor.flush() during a stalled `_persist`', () => {
  it('settles within bounded time, and the state lands once the server answers', async () => {
    const user = uniqueUser('z33-ps');
    const { ctl, c: ca } = await faultyClient(emu, user, 1500);
    ctl.fault = 'stall-persist';
    const A = app(ca, { sync: true });
    await bootstrapped(A.persistor);
    A.store.dispatch({ type: 'set', slice: 'a', text: 'x' });
    const t0 = Date.now();
    await settle(A.persistor.flush());
    const r2 = await settle(A.storage.flush());
    const took = Date.now() - t0;
    expect(took).toBeLessThan(8000);
    expect(r2).toMatch(/^rejected/);
    ctl.fault = 'none';
    A.store.dispatch({ type: 'set', slice: 'b', text: 'y' });
    expect(await settle(A.settleAll())).toBe('resolved');
    expect(await stored(emu, user)).toEqual({ a: { text: 'x' }, b: { text: 'y' }, c: { text: 'initial c' }, _persist: { version: 1, rehydrated: true } });
    // close() with nothing pending settles
    const t1 = Date.now();
    await ca.close();
    expect(Date.now() - t1).toBeLessThan(3000);
    A.stop();
  }, 30_000);

  it('close() during a stalled `_persist` (flush not awaited): close settles in bounded time, no slice without _persist stored', async () => {
    const user = uniqueUser('z33-pc');
    const { ctl, c: ca } = await faultyClient(emu, user, 1500);
    ctl.fault = 'stall-persist';
    const A = app(ca, { sync: true });
    await bootstrapped(A.persistor);
    A.store.dispatch({ type: 'set', slice: 'a', text: 'x' });
    void A.persistor.flush();
    const t0 = Date.now();
    await ca.close();
    const took = Date.now() - t0;
    A.stop();
    const s = await stored(emu, user);
    expect(took).toBeLessThan(8000);
    if (s !== null) expect(s).toHaveProperty('_persist');
  }, 30_000);
});
