// @vitest-environment jsdom
/**
 * A client closed while hooks over `watch` are mounted: `useValue`, `useParts` and `useKeys` show `status: 'error'`
 * with code `closed` (they stayed `ready`), as `useQuery` does — and so does one mounted after the close that shares
 * their source; `watch(…, { current: true, onError })` is told `closed` once. Both modes.
 */
import { createElement as h } from 'react';
import { describe, expect, it } from 'vitest';
import { type FeatError } from '@feat/sdk';
import { useKeys, useParts, useValue } from '@feat/sdk/react';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';
import { inAct, mount, until } from './harness.js';

const emu = useEmulator();

const show = (id: string, state: { status: string; error?: FeatError | undefined }) => h('p', { 'data-testid': id }, `${state.status}:${state.error?.code ?? ''}`);
const Value = ({ id }: { id: string }) => show(id, useValue('k'));
const Parts = ({ id }: { id: string }) => show(id, useParts('p'));
const Keys = ({ id }: { id: string }) => show(id, useKeys(''));
const all = (suffix: string) => h('div', null, h(Value, { id: 'v' + suffix }), h(Parts, { id: 'p' + suffix }), h(Keys, { id: 'k' + suffix }));

describe.each(modes)('hooks over watch when the client closes: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it('watch({ current: true, onError }) gets closed once, and no event after', async () => {
    const c = client(uniqueUser('hc'));
    await c.ready();
    await c.store.set('k', 1);
    const events: unknown[] = [];
    const errors: FeatError[] = [];
    c.store.watch('k', (e) => events.push(e.value), { current: true, onError: (e) => errors.push(e) });
    await waitFor(() => events.length === 1, 10_000, 'the current value');
    await c.close();
    await sleep(300);
    expect(errors.map((e) => e.code)).toEqual(['closed']);
    expect(events).toEqual([1]);
  });

  it('useValue, useParts and useKeys mounted before close() show error closed, as does one mounted after', async () => {
    const c = client(uniqueUser('hc'));
    await inAct(() => c.ready());
    await inAct(() => Promise.all([c.store.set('k', 1), c.store.setParts('p', { a: 1 })]));
    const view = await mount(c, all('1'));
    const texts = (suffix: string) => ['v', 'p', 'k'].map((id) => view.text(id + suffix));
    await until(() => texts('1').every((t) => t === 'ready:'), () => `ready (shown ${texts('1').join(' ')})`);
    await inAct(() => c.close());
    await until(() => texts('1').every((t) => t === 'error:closed'), () => `error closed (shown ${texts('1').join(' ')})`);
    const later = await mount(c, all('2'));
    await inAct(() => sleep(100));
    expect(['v', 'p', 'k'].map((id) => later.text(id + '2'))).toEqual(['error:closed', 'error:closed', 'error:closed']);
    await later.unmount();
    await view.unmount();
  });
});
