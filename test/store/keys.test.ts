/**
 * Every key `set` accepts round-trips through the deployment's proxy, in both modes; a key that could not is refused
 * before any I/O (COUCHDB-FACTS.md, "Documents and limits": dot segments, nginx's 8 KB request line, NUL → 400).
 */
import { describe, expect, it } from 'vitest';
import { expectCode, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clientsOf, modes, settle } from './helpers.js';

const emu = useEmulator();

/** The id limit the README documents: the key as a JSON string, percent-encoded (`encodeURIComponent`). */
const LIMIT = 3_000;
const encoded = (id: string) => encodeURIComponent(JSON.stringify(id)).length;
/** The longest key made of `unit` repeated (after `head`) that is within the limit. */
function longest(unit: string, head = ''): string {
  let key = head;
  while (encoded(key + unit) <= LIMIT) key += unit;
  return key;
}
/** nginx's default request-line buffer, less the headroom the SDK keeps. */
const MAX_LINE = 8 * 1024 - 1024;

describe.each(modes)('keys through the proxy: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it('keys "." and ".." round-trip: the same client, another client, keys() and remove', async () => {
    const user = uniqueUser();
    const a = client(user);
    const b = client(user);
    await a.store.set('.', 'dot');
    await a.store.set('..', { two: 2 });
    await a.store.setParts('..', { '.': 'part' });
    expect(await a.store.get('.')).toBe('dot');
    expect(await a.store.get('..')).toEqual({ two: 2 });
    expect(await a.store.keys()).toEqual(['.', '..', '..:.']);
    await settle(a);
    await b.ready();
    await waitFor(async () => (await b.store.get('..')) !== undefined, 10_000, 'the other client to read ".."');
    expect(await b.store.get('.')).toBe('dot');
    expect(await b.store.getParts('..')).toEqual({ '.': 'part' });
    // Another client writes and removes them: a write that reached "/" or "/{db}/" would never show here.
    await b.store.set('.', 'changed');
    await b.store.remove('..');
    await settle(b);
    await waitFor(async () => (await a.store.get('.')) === 'changed', 10_000, 'the change of "."');
    await waitFor(async () => (await a.store.get('..')) === undefined, 10_000, 'the removal of ".."');
    await a.store.remove('.');
    await a.store.removeParts('..');
    expect(await a.store.get('.')).toBeUndefined();
    expect(await a.store.keys()).toEqual([]);
    // No request lost its id to URL normalization: a document request never names the root or the bare database.
    for (const line of [...a.wire.lines, ...b.wire.lines]) expect(line).not.toMatch(/^(PUT|DELETE) \/(\?|$)|^(PUT|DELETE|GET) \/[^/]+\/\?/);
  });

  it('keys "." and "..": two clients writing without reading each other meet a conflict, resolved like any key', async () => {
    const user = uniqueUser();
    const a = client(user);
    const b = client(user);
    await Promise.all([a.ready(), b.ready()]);
    const conflicts: unknown[] = [];
    a.sync.on('conflict', (c) => conflicts.push(c));
    await b.store.set('..', 'first');
    await settle(b);
    // a has not read "..": in remote mode its write meets b's revision (409) and goes through the resolver.
    await a.store.set('..', 'second');
    await a.store.remove('.');
    await settle(a);
    expect(await a.store.get('..')).toBe('second');
    await waitFor(async () => (await b.store.get('..')) === 'second', 10_000, 'the resolved value on the other client');
    if (mode.options.mode === 'remote') expect(conflicts).toHaveLength(1);
  });

  it('keys at the length limit round-trip, and every request line stays under nginx 8 KB with headroom', async () => {
    const c = client(uniqueUser());
    // The costliest characters per byte of key: control characters (JSON escapes), quotes, CJK, emoji; and plain ASCII.
    const keys = [longest('\u0001', 'c'), longest('"', 'q'), longest('中'), longest('😀'), longest('x'), longest('%')];
    for (const key of keys) expect(encoded(key)).toBeGreaterThan(LIMIT - 20);
    for (const [i, key] of keys.entries()) await c.store.set(key, i);
    for (const [i, key] of keys.entries()) expect(await c.store.get(key)).toBe(i);
    expect(await c.store.keys()).toEqual([...keys].sort());
    for (const key of keys) expect(await c.store.keys(key)).toEqual([key]);
    // A key whose part ids are at the limit: parts read, replaced and removed.
    const owner = longest('é', 'p').slice(0, -8);
    const subkey = longest('y', owner + ':').slice(owner.length + 1);
    await c.store.setParts(owner, { [subkey]: 1, s: 2 });
    expect(await c.store.getParts(owner)).toEqual({ [subkey]: 1, s: 2 });
    await c.store.setParts(owner, { s: 3 }, { replace: true });
    expect(await c.store.getParts(owner)).toEqual({ s: 3 });
    await c.store.removeParts(owner);
    expect(await c.store.getParts(owner)).toEqual({});
    for (const key of keys) await c.store.remove(key);
    expect(await c.store.keys()).toEqual([]);
    await settle(c);
    const longestLine = Math.max(...c.wire.lines.map((l) => `${l} HTTP/1.1`.length));
    expect(longestLine).toBeLessThanOrEqual(MAX_LINE);
  });

  it('keys over the limit and keys with NUL are refused before any I/O with invalid_key naming the limit', async () => {
    const c = client(uniqueUser());
    const tooLong = [longest('x') + 'x', longest('中') + '中', 'x'.repeat(10 * 1024), '中'.repeat(3414)];
    for (const key of tooLong) {
      for (const call of [() => c.store.set(key, 1), () => c.store.get(key), () => c.store.remove(key), () => c.store.getParts(key)]) {
        const error = await expectCode(call(), 'invalid_key');
        expect(error.message).toMatch(/3000/);
        expect(error.message).toMatch(/8 KB/);
      }
    }
    // A subkey that makes the part's id too long, even though the key and the subkey alone are short enough.
    const half = longest('x').slice(0, 1600);
    expect((await expectCode(c.store.setParts(half, { [half]: 1 }), 'invalid_key')).message).toMatch(/3000/);
    for (const key of ['nul\u0000', '\u0000']) {
      expect((await expectCode(c.store.set(key, 1), 'invalid_key')).message).toMatch(/NUL/);
      await expectCode(c.store.setItem(key, 'v'), 'invalid_key');
    }
    expect((await expectCode(c.store.setParts('k', { 'a\u0000': 1 }), 'invalid_key')).message).toMatch(/NUL/);
    // No key can start with a prefix over the limit: nothing to ask.
    expect(await c.store.keys('x'.repeat(10 * 1024))).toEqual([]);
    expect(c.wire.lines).toEqual([]);
  });
});
