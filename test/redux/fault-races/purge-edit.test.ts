import { describe, expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator, waitFor } from '../../support/backend.js';
import { bootstrapped } from '../helpers.js';
import { app, faultyFetch, mk, settle, stored } from './common.js';

const emu = useEmulator();


/** Two remote devices of a new user: A stored `a: A1`, B rehydrated it. */
async function twoDevices(name: string) {
  const user = uniqueUser(name);
  const A = app(mk(emu, user));
  await bootstrapped(A.persistor);
  A.store.dispatch({ type: 'set', slice: 'a', text: 'A1' });
  await A.settleAll();
  const B = app(mk(emu, user));
  await bootstrapped(B.persistor);
  await waitFor(() => B.state().a.text === 'A1', 8000);
  return { user, A, B };
}

describe('purge on A, then B edits another slice (remote)', () => {
  it.each([[300], [1500]])('B edits %i ms after A purged + edited: B\'s edit is stored', async (gap) => {
    const { user, A, B } = await twoDevices('z33-pe');
    await A.persistor.purge();
    A.store.dispatch({ type: 'set', slice: 'b', text: 'A2' });
    if (gap > 0) {
      await A.settleAll();
      await sleep(gap);
    }
    B.store.dispatch({ type: 'set', slice: 'c', text: 'B2' });
    await settle(B.settleAll());
    await settle(A.settleAll());
    await sleep(500);
    const s = await stored(emu, user);
    A.stop();
    B.stop();
    expect(s?.c).toEqual({ text: 'B2' });
    expect(s?._persist).toEqual({ version: 1, rehydrated: true });
  }, 40_000);

  it('without a purge, the same concurrent edits: both kept (control)', async () => {
    const { user, A, B } = await twoDevices('z33-pe0');
    A.store.dispatch({ type: 'set', slice: 'b', text: 'A2' });
    B.store.dispatch({ type: 'set', slice: 'c', text: 'B2' });
    await settle(B.settleAll());
    await settle(A.settleAll());
    const s = await stored(emu, user);
    A.stop();
    B.stop();
    expect(s?.c).toEqual({ text: 'B2' });
    expect(s?.b).toEqual({ text: 'A2' });
  }, 40_000);
});

describe('purge race, traced', () => {
  it('5 rounds, gap 0: B\'s edit of c survives', async () => {
    const lost: string[] = [];
    for (let round = 0; round < 5; round++) {
      const user = uniqueUser('z33-pt');
      const fa = faultyFetch(); fa.ctl.name = 'A';
      const fb = faultyFetch(); fb.ctl.name = 'B';
      const c1 = mk(emu, user, { fetch: fa.fetchFn });
      const c2 = mk(emu, user, { fetch: fb.fetchFn });
      const A = app(c1);
      await bootstrapped(A.persistor);
      A.store.dispatch({ type: 'set', slice: 'a', text: 'A1' });
      await A.settleAll();
      const B = app(c2);
      await bootstrapped(B.persistor);
      await waitFor(() => B.state().a.text === 'A1', 8000);
      fa.ctl.ids.length = 0; fb.ctl.ids.length = 0;
      await A.persistor.purge();
      A.store.dispatch({ type: 'set', slice: 'b', text: 'A2' });
      B.store.dispatch({ type: 'set', slice: 'c', text: `B${round}` });
      await settle(B.settleAll());
      await settle(A.settleAll());
      await sleep(300);
      const s = await stored(emu, user);
      if (JSON.stringify(s?.c) !== JSON.stringify({ text: `B${round}` })) {
        const trace = [...fa.ctl.ids, ...fb.ctl.ids].sort((x, y) => Number(x.split(' ')[0]) - Number(y.split(' ')[0]));
        lost.push(`round ${round}: stored c=${JSON.stringify(s?.c)} B state c=${JSON.stringify(B.state().c)}\n  ${trace.join('\n  ')}`);
      }
      A.stop();
      B.stop();
      await c1.close();
      await c2.close();
    }
    expect(lost.length).toBe(0);
  }, 60_000);
});
