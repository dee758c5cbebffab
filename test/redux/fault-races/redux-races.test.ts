import { describe, expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator, waitFor } from '../../support/backend.js';
import { bootstrapped } from '../helpers.js';
import { app, faultyFetch, mk, settle, stored } from './common.js';

const emu = useEmulator();


describe('close right after a first dispatch, `_persist` write slow', () => {
  it.each([['awaited flush'], ['flush not awaited']])('remote, %s: close() keeps the state', async (how) => {
    const user = uniqueUser('z33-close');
    const { ctl, fetchFn } = faultyFetch();
    const c = mk(emu, user, { fetch: fetchFn });
    await c.ready();
    ctl.fault = 'delay-persist';
    ctl.delayMs = 600;
    const a = app(c, { sync: false });
    await bootstrapped(a.persistor);
    a.store.dispatch({ type: 'set', slice: 'a', text: 'typed' });
    if (how === 'awaited flush') await a.persistor.flush();
    else void a.persistor.flush();
    await c.close();
    const s = await stored(emu, user);
    expect(s).toEqual({ a: { text: 'typed' }, b: { text: 'initial b' }, c: { text: 'initial c' }, _persist: { version: 1, rehydrated: true } });
  }, 30_000);

  it('local-first: bootstrap, dispatch, flush, close: the next client pushes the whole state', async () => {
    const user = uniqueUser('z33-cloself');
    const c = mk(emu, user, { mode: 'local-first', local: { adapter: 'memory', name: `z33-${user}` } } as never);
    await c.ready();
    const a = app(c, { sync: false });
    await bootstrapped(a.persistor);
    a.store.dispatch({ type: 'set', slice: 'a', text: 'typed' });
    await a.persistor.flush();
    await a.storage.flush();
    await c.sync.waitForPush({ timeout: 10_000 });
    await c.close();
    const s = await stored(emu, user);
    expect(s).toEqual({ a: { text: 'typed' }, b: { text: 'initial b' }, c: { text: 'initial c' }, _persist: { version: 1, rehydrated: true } });
  }, 30_000);
});

describe('two devices start at once (local-first + remote), each edits right away', () => {
  it('3 rounds: both edits kept, `_persist` stored, devices converge', async () => {
    const bad: string[] = [];
    for (let round = 0; round < 3; round++) {
      const user = uniqueUser('z33-two');
      const lf = mk(emu, user, { mode: 'local-first', local: { adapter: 'memory' } } as never);
      const rm = mk(emu, user);
      const A = app(lf, { sync: true });
      const B = app(rm, { sync: true });
      await Promise.all([bootstrapped(A.persistor), bootstrapped(B.persistor)]);
      // after each device's first write (the edit is not within the documented 'before first write' window)
      await Promise.all([A.settleAll(), B.settleAll()]);
      A.store.dispatch({ type: 'set', slice: 'a', text: `LA${round}` });
      B.store.dispatch({ type: 'set', slice: 'b', text: `RB${round}` });
      await Promise.all([A.settleAll(), B.settleAll()]);
      await lf.sync.waitForPush({ timeout: 10_000 });
      const want = { a: { text: `LA${round}` }, b: { text: `RB${round}` }, c: { text: 'initial c' } };
      try {
        await waitFor(() => {
          const sa = A.state(), sb = B.state();
          return sa.a.text === want.a.text && sa.b.text === want.b.text && sb.a.text === want.a.text && sb.b.text === want.b.text;
        }, 8000);
      } catch {
        bad.push(`round ${round} states: A=${JSON.stringify(A.state())} B=${JSON.stringify(B.state())}`);
      }
      await Promise.all([A.settleAll(), B.settleAll()]);
      await lf.sync.waitForPush({ timeout: 10_000 });
      const s = await stored(emu, user);
      if (JSON.stringify(s) !== JSON.stringify({ ...s, ...want, _persist: { version: 1, rehydrated: true } }) || !s?._persist)
        bad.push(`round ${round} stored: ${JSON.stringify(s)}`);
      A.stop();
      B.stop();
      await lf.close();
      await rm.close();
    }
    expect(bad).toEqual([]);
  }, 90_000);
});

describe('purge then immediate edits on two devices', () => {
  it.each([['remote'], ['local-first']])('%s: both edits kept and `_persist` stored', async (mode) => {
    const user = uniqueUser('z33-purge');
    const opts = mode === 'remote' ? {} : ({ mode: 'local-first', local: { adapter: 'memory' } } as never);
    const c1 = mk(emu, user, opts);
    const c2 = mk(emu, user, opts);
    const A = app(c1, { sync: true });
    await bootstrapped(A.persistor);
    A.store.dispatch({ type: 'set', slice: 'a', text: 'A1' });
    await A.settleAll();
    if (mode !== 'remote') await c1.sync.waitForPush({ timeout: 10_000 });
    const B = app(c2, { sync: true });
    await bootstrapped(B.persistor);
    await waitFor(() => B.state().a.text === 'A1', 8000);
    await A.persistor.purge();
    A.store.dispatch({ type: 'set', slice: 'b', text: 'A2' });
    B.store.dispatch({ type: 'set', slice: 'c', text: 'B2' });
    await Promise.all([A.settleAll().catch(() => {}), B.settleAll().catch(() => {})]);
    await sleep(300);
    await Promise.all([settle(A.settleAll()), settle(B.settleAll())]);
    if (mode !== 'remote') {
      await c1.sync.waitForPush({ timeout: 10_000 });
      await c2.sync.waitForPush({ timeout: 10_000 });
    }
    const s = await stored(emu, user);
    expect(s?._persist).toEqual({ version: 1, rehydrated: true });
    expect(s?.b).toEqual({ text: 'A2' });
    expect(s?.c).toEqual({ text: 'B2' });
    A.stop();
    B.stop();
  }, 40_000);
});
