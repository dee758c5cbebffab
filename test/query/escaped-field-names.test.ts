/**
 * Field names with a dot in them, written with CouchDB's escape (`'a\\.b'` is the field `a.b`, not `b` inside `a`):
 * the same answer in both modes, in selectors and sorts (local-first split them at the escaped dot).
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';

const emu = useEmulator();

describe.each(modes)('escaped dots in field names: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it('a\\.b names the field "a.b" in selectors and sorts; a.b still names b inside a', async () => {
    const c = client(uniqueUser('dots'));
    await c.ready();
    await c.store.set('d:1', { 'a.b': 1, a: { b: 2 }, o: { 'p.q': { r: 'x' } } });
    await c.store.set('d:2', { 'a.b': 2, a: { b: 1 }, o: { 'p.q': { r: 'y' } } });
    const keys = async (query: object) => (await c.store.find({ prefix: 'd:', ...query })).map((r) => r.key);
    expect(await keys({ selector: { 'a\\.b': 1 } })).toEqual(['d:1']);
    expect(await keys({ selector: { 'a.b': 1 } })).toEqual(['d:2']);
    expect(await keys({ selector: { 'a\\.b': { $gt: 1 } } })).toEqual(['d:2']);
    expect(await keys({ selector: { 'o.p\\.q.r': 'y' } })).toEqual(['d:2']);
    expect(await keys({ selector: { 'a\\.b': { $exists: false } } })).toEqual([]);
    expect(await keys({ sort: ['a\\.b'] })).toEqual(['d:1', 'd:2']);
    expect(await keys({ sort: [{ 'a\\.b': 'desc' }] })).toEqual(['d:2', 'd:1']);
    expect(await keys({ sort: ['a.b'] })).toEqual(['d:2', 'd:1']);
  });
});
