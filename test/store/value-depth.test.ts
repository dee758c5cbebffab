/**
 * How deep a value may nest (README "Values"): values up to 500 levels are stored and read back on every path — remote
 * mode, local-first replicas in memory and LevelDB (pushed, then pulled by a second device), `find()` over them, export
 * and import; one level more is refused with `invalid_value` before any request, by a message that says what is wrong
 * (not "is not JSON"). A deeper document written by another app reads and exports, but an import of that export
 * refuses the file whole, naming the line and the limit. The browser's replicas: value-depth.e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { FeatClientOptions } from '@feat/sdk';
import { expectCode, uniqueUser, useEmulator } from '../support/backend.js';
import { device } from '../support/devices.js';
import { rawDatabase } from '../support/resolver-harness.js';

const emu = useEmulator();

/** The README's limit. */
const LIMIT = 500;

/** `levels` nested containers — objects and arrays in turn, `[]` counting as one level — around `leaf`. */
function nested(levels: number, leaf: unknown = 'leaf'): unknown {
  let v: unknown = [leaf];
  for (let i = 1; i < levels; i++) v = i % 2 ? { a: v } : [v];
  return v;
}

/** Arrays only: the shape that costs the most stack per level in a JavaScript engine's recursive copies. */
function arrays(levels: number): unknown {
  let v: unknown = [1];
  for (let i = 1; i < levels; i++) v = [v];
  return v;
}

const modes = [
  { name: 'remote', mode: 'remote' },
  { name: 'local-first (memory)', mode: 'local-first', adapter: 'memory' },
  { name: 'local-first (leveldb)', mode: 'local-first', adapter: 'leveldb' },
] as const;

describe.each(modes)('values nested $name', (m) => {
  /** A device of `user` in this mode; its requests (`METHOD path`) are recorded. */
  function deviceOf(user: string, name: string) {
    const lines: string[] = [];
    const recording: typeof fetch = (input, init) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      lines.push(`${(init?.method ?? 'GET').toUpperCase()} ${url.pathname}`);
      return fetch(input, init);
    };
    const extra: Partial<FeatClientOptions> = { fetch: recording, maintenance: { enabled: false } };
    const d = device(emu, user, m.mode === 'remote' ? { name, mode: 'remote', extra } : { name, adapter: m.adapter, extra });
    return Object.assign(d, { lines });
  }

  it(`${LIMIT} levels deep: stored, read back, found, and read by a second device`, async () => {
    const user = uniqueUser('depth');
    const a = deviceOf(user, 'a');
    await a.ready();
    const value = nested(LIMIT);
    const arr = arrays(LIMIT);
    await a.store.set('deep', value);
    await a.store.set('arrays', arr);
    // A part of LIMIT levels: its object, then the deep field.
    const [x, y] = [{ done: false, value: nested(LIMIT - 1) }, { done: false, value: nested(LIMIT - 1, 'other') }];
    await a.store.setParts('todo', { x, y });
    expect(await a.store.get('deep')).toEqual(value);
    expect(await a.store.get('arrays')).toEqual(arr);
    // Mango over such documents, sorted by the deep field itself (compared all the way down).
    const found = await a.store.find({ prefix: 'todo', selector: { done: false }, sort: [{ value: 'asc' }] });
    expect(found.map((r) => r.subkey)).toEqual(['x', 'y']);
    expect(found.map((r) => r.value)).toEqual([x, y]);
    await a.sync.waitForPush({ timeout: 20_000 });
    expect(a.errors).toEqual([]);

    const b = deviceOf(user, 'b');
    await b.ready();
    await expect.poll(() => b.store.get('deep'), { timeout: 20_000 }).toEqual(value);
    expect(await b.store.get('arrays')).toEqual(arr);
    expect(await b.store.getParts('todo')).toEqual({ x, y });
    expect(b.errors).toEqual([]);
  });

  it(`${LIMIT + 1} levels: invalid_value before any request, saying how deep and where, not "is not JSON"`, async () => {
    const user = uniqueUser('depth-over');
    const a = deviceOf(user, 'a');
    await a.ready();
    await a.sync.waitForPush({ timeout: 20_000 });
    const before = a.lines.filter((l) => !l.includes('_changes')).length;
    const error = await expectCode(a.store.set('deep', nested(LIMIT + 1)), 'invalid_value');
    expect(error.message).toMatch(new RegExp(`^The value of "deep" is nested deeper than ${LIMIT} levels \\(at [^)]*…\\), which the SDK does not store: flatten it`));
    expect(error.message).not.toMatch(/not JSON/);
    // The path is cut: a 500-segment path would be thousands of characters.
    expect(error.message.length).toBeLessThan(300);
    await expectCode(a.store.set('arrays', arrays(LIMIT + 1)), 'invalid_value');
    await expectCode(a.store.setParts('todo', { x: { value: nested(LIMIT) } }), 'invalid_value');
    expect(a.lines.filter((l) => !l.includes('_changes')).length).toBe(before);
    expect(await a.sync.pending()).toBe(0);
    expect(await a.store.keys()).toEqual([]);
  });

  it(`export and import of a value ${LIMIT} levels deep`, async () => {
    const a = deviceOf(uniqueUser('depth-exp'), 'a');
    const value = nested(LIMIT);
    await a.store.set('deep', value);
    await a.store.setParts('todo', { x: value });
    const text = await a.exportData();
    const c = deviceOf(uniqueUser('depth-imp'), 'c');
    expect(await c.importData(text)).toEqual({ imported: 2, skipped: 0 });
    expect(await c.store.get('deep')).toEqual(value);
    expect(await c.store.getParts('todo')).toEqual({ x: value });
  });
});

describe('a deeper document another app wrote', () => {
  it('reads and exports; an import of that export refuses the whole file, naming the line and the limit', async () => {
    const user = uniqueUser('depth-foreign');
    const a = device(emu, user, { name: 'a', mode: 'remote' });
    await a.store.set('plain', 1);
    const { url, headers } = await rawDatabase(emu, user);
    const value = nested(LIMIT + 100);
    const put = await fetch(`${url}/foreign`, { method: 'PUT', headers, body: JSON.stringify({ doc: value }) });
    expect(put.status).toBe(201);
    expect(await a.store.get('foreign')).toEqual(value);
    const text = await a.exportData();
    expect(text.split('\n').filter(Boolean)).toHaveLength(3);

    const c = device(emu, uniqueUser('depth-foreign-imp'), { name: 'c', mode: 'remote' });
    const error = await expectCode(c.importData(text), 'invalid_argument');
    expect(error.message).toMatch(new RegExp(`^Import input, line 2: The value of "foreign" is nested deeper than ${LIMIT} levels`));
    // A string is validated whole before anything is written (docs/export.md).
    expect(await c.store.keys()).toEqual([]);
  });
});
