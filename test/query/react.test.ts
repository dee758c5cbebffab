// @vitest-environment jsdom
/**
 * `useQuery` from `@feat/sdk/react`: loading, then the results, kept current by this device's writes.
 */
import { createElement as h } from 'react';
import { describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { useQuery } from '@feat/sdk/react';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { inAct, mount, until } from '../react/harness.js';

const emu = useEmulator();

type Todo = { title: string; done: boolean; prio: number };

function Todos() {
  const { results, status, error } = useQuery<Todo>({ prefix: 'todos', selector: { done: false }, sort: ['prio'] });
  return h('p', { 'data-testid': 'todos' }, `${status}:${results.map((r) => `${r.subkey}=${r.value.title}`).join(',')}${error ? `:${error.code}` : ''}`);
}

describe('useQuery', () => {
  it('shows loading, then the sorted results, then follows writes', async () => {
    const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('rq')), local: { adapter: 'memory' } }));
    await inAct(() => c.store.setParts('todos', { 1: { title: 'milk', done: false, prio: 2 }, 2: { title: 'bread', done: true, prio: 1 }, 3: { title: 'tea', done: false, prio: 1 } }));
    const view = await mount(c, h(Todos));
    expect(view.text('todos')).toMatch(/^loading:|^ready:/);
    await until(() => view.text('todos') === 'ready:3=tea,1=milk', () => `the results (shown: ${view.text('todos')})`);
    await inAct(() => c.store.set('todos:2', { title: 'bread', done: false, prio: 0 }));
    await until(() => view.text('todos') === 'ready:2=bread,3=tea,1=milk', () => `the new results (shown: ${view.text('todos')})`);
    await view.unmount();
  });
});
