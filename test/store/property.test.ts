/**
 * Property: over random keys and subkeys (unicode, dots, slashes, `%`, `:`, quotes, control characters, long ones),
 * in both modes against the emulator, a key is accepted exactly when the README's rules allow it, every accepted write
 * round-trips (on this client and on another device of the user), and writes to one key never change another.
 * The model applies the README's id rule: the part `s` of `k` is the key `k + ':' + s` with `%` → `%25`, `:` → `%3A`.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { clientsOf, modes, partIdOf, partOf, settle } from './helpers.js';

const emu = useEmulator();

const LIMIT = 3_000;
const wellFormed = (s: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(s);
/** README: ids past the ends of the SDK's id ranges (a leading run of U+FFFF/U+10FFFF holding U+10FFFF then U+E000–U+FFFF, or eight of either then more). */
const pastTheRanges = (id: string) => /^[\u{FFFF}\u{10FFFF}]*(?:\u{10FFFF}[\u{E000}-\u{FFFF}]|\u{10FFFF}{8}[^]|\u{FFFF}{8}[^])/u.test(id);
const fits = (id: string) => wellFormed(id) && !id.includes('\u0000') && !pastTheRanges(id) && encodeURIComponent(JSON.stringify(id)).length <= LIMIT;
const validKey = (k: string) => k !== '' && !k.startsWith('_') && !k.startsWith('feat~') && fits(k);
const piece = fc.oneof(
  fc.constantFrom('.', '..', '/', '%', '%25', '%3A', '%2E', ':', '::', '+', ' ', '?', '#', '"', '\\', '\u0001', '\u0000', '\ud800', '\uffff', '😀', '中', 'é', '\u{10FFFF}', '_', 'feat~'),
  fc.string({ unit: 'binary', maxLength: 3 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 5 }),
);
const shortKey = fc.array(piece, { minLength: 1, maxLength: 4 }).map((a) => a.join(''));
/** Around the limit: some fit, some do not. */
const longKey = fc.tuple(fc.constantFrom('x', '中', '\u0001', '😀', 'ab:'), fc.integer({ min: 150, max: 3_100 })).map(([unit, n]) => unit.repeat(Math.ceil(n / unit.length / (unit === 'x' ? 1 : 4))));
const keyArb = fc.oneof({ weight: 6, arbitrary: shortKey }, { weight: 1, arbitrary: longKey }, { weight: 1, arbitrary: fc.constantFrom('.', '..', 'a', 'a:b') });
const value = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.record({ n: fc.integer() }));

type Op =
  | { m: 'set'; k: number; j: number; v: unknown }
  | { m: 'remove'; k: number; j: number }
  | { m: 'setParts'; k: number; j: number; parts: [number, unknown][]; replace: boolean }
  | { m: 'removeParts'; k: number; j: number };
const index = fc.nat({ max: 7 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ m: fc.constant('set' as const), k: index, j: index, v: value }),
  fc.record({ m: fc.constant('remove' as const), k: index, j: index }),
  fc.record({ m: fc.constant('setParts' as const), k: index, j: index, parts: fc.array(fc.tuple(index, value), { maxLength: 3 }), replace: fc.boolean() }),
  fc.record({ m: fc.constant('removeParts' as const), k: index, j: index }),
);
const scenario = fc.record({ pool: fc.array(keyArb, { minLength: 2, maxLength: 5 }), ops: fc.array(opArb, { minLength: 1, maxLength: 7 }) });

describe.each(modes)('property: random keys round-trip and stay apart: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it('accepted exactly by the rules, round-trips, never changes another key', { timeout: 240_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ pool, ops }) => {
        // A key of the pool, or a key made of two (`a:b`: it overlaps the parts of `a`).
        const keyOf = (k: number, j: number) => (j % 3 === 0 ? `${pool[k % pool.length]!}:${pool[j % pool.length]!}` : pool[k % pool.length]!);
        const user = uniqueUser('prop');
        const a = client(user);
        const model = new Map<string, unknown>();
        const partsOf = (key: string) => [...model.keys()].filter((id) => partOf(id)?.key === key);
        for (const op of ops) {
          const key = keyOf(op.k, op.j);
          let accepted: boolean;
          let call: Promise<void>;
          if (op.m === 'set') {
            accepted = validKey(key);
            call = a.store.set(key, op.v);
            if (accepted) model.set(key, op.v);
          } else if (op.m === 'remove') {
            accepted = validKey(key);
            call = a.store.remove(key);
            if (accepted) model.delete(key);
          } else if (op.m === 'setParts') {
            const entries = op.parts.map(([s, v]) => [pool[s % pool.length]!, v] as const);
            const parts = Object.fromEntries(entries);
            accepted = validKey(key) && Object.keys(parts).every((s) => s !== '' && fits(partIdOf(key, s)));
            call = a.store.setParts(key, parts, { replace: op.replace });
            if (accepted) {
              if (op.replace) for (const id of partsOf(key)) model.delete(id);
              for (const [s, v] of Object.entries(parts)) model.set(partIdOf(key, s), v);
            }
          } else {
            accepted = validKey(key);
            call = a.store.removeParts(key);
            if (accepted) for (const id of partsOf(key)) model.delete(id);
          }
          const error = await call.then(
            () => undefined,
            (e: unknown) => e,
          );
          if (accepted) expect(error, `${op.m} ${JSON.stringify(key).slice(0, 80)}`).toBeUndefined();
          else expect(isFeatError(error) && error.code, `${op.m} ${JSON.stringify(key).slice(0, 80)} is refused`).toBe('invalid_key');
        }
        const expected = [...model.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        expect(await a.store.keys()).toEqual(expected);
        for (const [id, v] of model) expect(await a.store.get(id)).toEqual(v);
        for (const key of new Set(pool.filter(validKey))) {
          expect(await a.store.getParts(key)).toEqual(Object.fromEntries(partsOf(key).map((id) => [partOf(id)!.subkey, model.get(id)])));
        }
        // Another device of the user reads the same, through the server.
        await settle(a);
        const b = client(user);
        await b.ready();
        expect(await b.store.keys()).toEqual(expected);
        for (const [id, v] of model) expect(await b.store.get(id)).toEqual(v);
        await Promise.all([a.close(), b.close()]);
      }),
      { numRuns: 12, endOnFailure: true, ...(process.env.PROPERTY_SEED ? { seed: Number(process.env.PROPERTY_SEED), ...(process.env.PROPERTY_PATH ? { path: process.env.PROPERTY_PATH } : {}) } : {}) },
    );
  });
});
