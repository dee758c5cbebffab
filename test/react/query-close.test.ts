// @vitest-environment jsdom
/**
 * A client closed while a live query runs: `watchQuery`'s `onError` gets `closed` (the query ends), so a `useQuery`
 * mounted before the close — and one mounted after it that shares its source — shows `status: 'error'` with code
 * `closed` (it stayed `ready`), in both modes.
 */
import { createElement as h } from 'react';
import { describe, expect, it } from 'vitest';
import { type FeatError } from '@feat/sdk';
import { useQuery } from '@feat/sdk/react';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';
import { inAct, mount, until } from './harness.js';

const emu = useEmulator();

function Q({ id }: { id: string }) {
  const { results, status, error } = useQuery<{ n: number }>({ prefix: 'z' });
  return h('p', { 'data-testid': id }, `${status}:${results.length}:${error?.code ?? ''}`);
}

describe.each(modes)('a live query when the client closes: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it('watchQuery: onError gets closed once, and no result set comes after', async () => {
    const c = client(uniqueUser('qc'));
    await c.ready();
    await c.store.set('z1', { n: 1 });
    const sets: unknown[] = [];
    const errors: FeatError[] = [];
    c.store.watchQuery({ prefix: 'z' }, (r) => sets.push(r), { onError: (e) => errors.push(e), onWarning: () => undefined });
    await waitFor(() => sets.length === 1, 10_000, 'the first set');
    await c.close();
    await waitFor(() => errors.length > 0, 5_000, 'the closed error');
    await sleep(300);
    expect(errors.map((e) => e.code)).toEqual(['closed']);
    expect(sets).toHaveLength(1);
  });

  it('useQuery mounted before close(), and one mounted after sharing it, show error closed', async () => {
    const c = client(uniqueUser('qc'));
    await inAct(() => c.ready());
    await inAct(() => c.store.set('z1', { n: 1 }));
    const first = await mount(c, h(Q, { id: 'a' }));
    await until(() => first.text('a') === 'ready:1:', () => `ready (shown ${first.text('a')})`);
    await inAct(() => c.close());
    await until(() => first.text('a') === 'error:1:closed', () => `error closed (shown ${first.text('a')})`);
    const second = await mount(c, h(Q, { id: 'b' }));
    await inAct(() => sleep(100));
    expect(second.text('b')).toBe('error:1:closed');
    await first.unmount();
    await second.unmount();
    const alone = await mount(c, h(Q, { id: 'c' }));
    await until(() => alone.text('c') === 'error:0:closed', () => `alone: error closed (shown ${alone.text('c')})`);
    await alone.unmount();
  });
});
