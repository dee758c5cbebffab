/**
 * Values the store would keep only in part are refused up front, and a plain parts map is taken whatever its prototype
 * (the attack of session 34): an array with a named property (JSON keeps only its elements) was stored without it; a
 * symbol subkey of `setParts` was dropped; a null-prototype parts map was refused although `set()` takes such values.
 */
import { describe, expect, it } from 'vitest';
import { isFeatError } from '@feat/sdk';
import { clientIn, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'accepted', (e: unknown) => (isFeatError(e) ? e.code : String(e)));

describe.each(['remote', 'local-first'] as const)('values kept only in part: %s', (mode) => {
  it('an array with a named property or a symbol: invalid_value, the stored value unchanged', async () => {
    const c = clientIn(emu, uniqueUser('lossy'), mode);
    await c.store.set('arr', [0]);
    // (What TypeScript would flag in an app: these come from untyped code.)
    const named = Object.assign([1, 2], { extra: 'data' }) as unknown as number[];
    const symbol = Object.assign([1, 2], { [Symbol('s')]: 1 }) as unknown as number[];
    const holeAndName = Object.assign([1, , 3], { extra: 'data' }) as unknown as number[]; // eslint-disable-line no-sparse-arrays
    for (const value of [named, symbol, { nested: named }] as unknown[]) expect(await codeOf(c.store.set('arr', value))).toBe('invalid_value');
    await expect(c.store.set('arr', holeAndName)).rejects.toThrow(/a hole in an array/);
    expect(await codeOf(c.store.setParts('parts', { a: 1, b: named }))).toBe('invalid_value');
    expect(await c.store.get('arr')).toEqual([0]);
    expect(await c.store.getParts('parts')).toEqual({});
  });

  it('setParts: a symbol subkey → invalid_key, nothing written; a null-prototype map is taken', async () => {
    const c = clientIn(emu, uniqueUser('parts-map'), mode);
    expect(await codeOf(c.store.setParts('sp', { a: 1, [Symbol('b')]: 2 } as Record<string, number>))).toBe('invalid_key');
    expect(await c.store.getParts('sp')).toEqual({});
    const bare = Object.assign(Object.create(null) as Record<string, number>, { a: 1, b: 2 });
    expect(await codeOf(c.store.setParts('np', bare))).toBe('accepted');
    expect(await c.store.getParts('np')).toEqual({ a: 1, b: 2 });
  });
});
