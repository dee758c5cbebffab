/**
 * One id space for keys and parts (README, "Keys and parts share one id space"): two different (key, subkey) pairs
 * never share a document; a parts call on `a` never touches the parts of `a:b`; the seed's `{ _id: 'key:subkey', doc }`
 * documents read as parts; a plain key `a:x` is the part `x` of `a`, in every call.
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes, settle } from './helpers.js';

const emu = useEmulator();

describe.each(modes)('one id space: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it('parts (p, "q:r") and (p:q, r) are two documents; each parts call sees only its own', async () => {
    const { store } = client(uniqueUser());
    await store.setParts('p', { 'q:r': 1, '50%': 2, '%3A': 3 });
    await store.setParts('p:q', { r: 10 });
    expect(await store.getParts('p')).toEqual({ 'q:r': 1, '50%': 2, '%3A': 3 });
    expect(await store.getParts('p:q')).toEqual({ r: 10 });
    await store.setParts('p', { 'q:r': 4 }, { replace: true });
    expect(await store.getParts('p')).toEqual({ 'q:r': 4 });
    expect(await store.getParts('p:q')).toEqual({ r: 10 });
    await store.removeParts('p');
    expect(await store.getParts('p')).toEqual({});
    expect(await store.getParts('p:q')).toEqual({ r: 10 });
    expect(await store.keys()).toEqual(['p:q:r']);
  });

  it('removeParts("a") and replace keep the parts of a:b and every key that is not a part of a', async () => {
    const { store } = client(uniqueUser());
    await Promise.all([
      store.set('a', 'the key itself'),
      store.set('ab:x', 'another key'),
      store.setParts('a:b', { x: 'part of a:b' }),
      store.set('a:100%', 'not an SDK subkey spelling: a plain key'),
      store.setParts('a', { x: 1, y: 2 }),
    ]);
    expect(await store.getParts('a')).toEqual({ x: 1, y: 2 });
    await store.setParts('a', { y: 3 }, { replace: true });
    expect(await store.getParts('a')).toEqual({ y: 3 });
    await store.removeParts('a');
    expect(await store.getParts('a')).toEqual({});
    expect(await store.get('a')).toBe('the key itself');
    expect(await store.getParts('a:b')).toEqual({ x: 'part of a:b' });
    expect(await store.get('a:100%')).toBe('not an SDK subkey spelling: a plain key');
    expect(await store.keys()).toEqual(['a', 'a:100%', 'a:b:x', 'ab:x']);
  });

  it('a plain key a:x is the part x of a: set, getParts, replace, removeParts and keys agree', async () => {
    const { store } = client(uniqueUser());
    await store.set('user:1', { name: 'ann' });
    expect(await store.getParts('user')).toEqual({ '1': { name: 'ann' } });
    await store.setParts('user', { '2': { name: 'bob' } });
    expect(await store.get('user:2')).toEqual({ name: 'bob' });
    expect(await store.keys('user')).toEqual(['user:1', 'user:2']);
    await store.setParts('user', { '2': { name: 'bob' } }, { replace: true });
    expect(await store.get('user:1')).toBeUndefined();
    await store.removeParts('user');
    expect(await store.keys()).toEqual([]);
  });

  it("documents written by existing apps as { _id: 'key:subkey', doc } read as parts", async () => {
    const user = uniqueUser();
    const c = client(user);
    const session = await c.ready();
    const token = await (await fetch(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } })).json();
    for (const [id, doc] of [['article:title', 'Hello'], ['article:p1', { text: '…' }], ['article:p1:note', 'of article:p1']] as const) {
      const res = await fetch(`${emu.couchUrl}/${session.dbName}/${encodeURIComponent(id)}`, {
        method: 'PUT',
        headers: { ...token.data.headers, 'Content-Type': 'application/json' },
        body: JSON.stringify({ doc }),
      });
      expect(res.status).toBe(201);
    }
    await waitFor(async () => (await c.store.keys('article')).length === 3, 10_000, 'the seed documents');
    expect(await c.store.getParts('article')).toEqual({ title: 'Hello', p1: { text: '…' } });
    expect(await c.store.getParts('article:p1')).toEqual({ note: 'of article:p1' });
    await c.store.setParts('article', { title: 'Hi' });
    await settle(c);
    const res = await fetch(`${emu.couchUrl}/${session.dbName}/article%3Atitle`, { headers: token.data.headers });
    expect((await res.json()).doc).toBe('Hi');
  });
});
