/**
 * `store.watchQuery()`: the current results first, then a new result set for every change (this device's or another
 * device's) that alters them, and none for a change that does not; in both modes.
 */
import { describe, expect, it } from 'vitest';
import type { QueryResult } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes, settle } from '../store/helpers.js';

const emu = useEmulator();

type Todo = { title: string; done: boolean; prio: number };
const titles = (r: QueryResult<Todo>[]) => r.map((x) => x.value.title);

describe.each(modes)('store.watchQuery: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it('delivers the current results, then a new set on each change that alters them, none otherwise', async () => {
    const user = uniqueUser();
    const a = client(user);
    const b = client(user);
    await Promise.all([a.ready(), b.ready()]);
    await a.store.setParts('todo', { a: { title: 'a', done: false, prio: 2 }, b: { title: 'b', done: true, prio: 1 }, c: { title: 'c', done: false, prio: 1 } });
    await a.store.set('other', { title: 'o', done: false, prio: 0 });
    const seen: QueryResult<Todo>[][] = [];
    const stop = a.store.watchQuery<Todo>({ prefix: 'todo', selector: { done: false }, sort: ['prio'] }, (r) => seen.push(r));
    await waitFor(() => seen.length === 1, 10_000, 'the current results');
    expect(seen[0]).toEqual([
      { key: 'todo', subkey: 'c', value: { title: 'c', done: false, prio: 1 } },
      { key: 'todo', subkey: 'a', value: { title: 'a', done: false, prio: 2 } },
    ]);
    // Local change that alters the results: a new set, re-sorted.
    await a.store.set('todo:a', { title: 'a', done: false, prio: 0 });
    await waitFor(() => seen.length === 2, 10_000, 'the set after a local change');
    expect(titles(seen[1]!)).toEqual(['a', 'c']);
    // Changes that do not alter them: a non-matching value, a key outside the prefix, the same value again.
    await a.store.set('todo:b', { title: 'b', done: true, prio: 9 });
    await a.store.set('other', { title: 'o2', done: false, prio: 0 });
    // Remote change (another device) that alters them: b now matches.
    await b.store.set('todo:b', { title: 'b', done: false, prio: 5 });
    await settle(b);
    await waitFor(() => seen.length >= 3, 15_000, 'the set after a remote change');
    expect(titles(seen[2]!)).toEqual(['a', 'c', 'b']);
    // A result that did not change is the same object as in the set before (a memoized row does not render again).
    expect(seen[2]![0]).toBe(seen[1]![0]);
    expect(seen[2]![1]).toBe(seen[1]![1]);
    // A deletion of a match.
    await a.store.remove('todo:c');
    await waitFor(() => seen.length >= 4, 10_000, 'the set after a deletion');
    expect(titles(seen[3]!)).toEqual(['a', 'b']);
    await sleep(300);
    expect(seen).toHaveLength(4);
    stop();
    await a.store.set('todo:d', { title: 'd', done: false, prio: 3 });
    await sleep(300);
    expect(seen).toHaveLength(4);
  });

  it('with a limit, the window follows the changes', async () => {
    const c = client(uniqueUser());
    await c.ready();
    await c.store.setParts('t', { a: { title: 'a', done: false, prio: 1 }, b: { title: 'b', done: false, prio: 2 }, c: { title: 'c', done: false, prio: 3 } });
    const seen: QueryResult<Todo>[][] = [];
    const stop = c.store.watchQuery<Todo>({ prefix: 't', sort: [{ prio: 'desc' }], limit: 2 }, (r) => seen.push(r));
    await waitFor(() => seen.length === 1, 10_000, 'the current results');
    expect(titles(seen[0]!)).toEqual(['c', 'b']);
    await c.store.remove('t:c');
    await waitFor(() => seen.length === 2, 10_000, 'the window after a deletion');
    expect(titles(seen[1]!)).toEqual(['b', 'a']);
    stop();
  });
});
