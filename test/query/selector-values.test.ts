/**
 * Values in a selector are JSON, checked before any request in both modes: `undefined` (which JSON.stringify drops —
 * `{ owner: undefined }` matched everything on the server), NaN and ±Infinity, Dates, Maps and class instances, cyclic
 * and absurdly deep selectors → `invalid_argument` naming the field, never a match-all, a bad_response or a RangeError.
 */
import { describe, expect, it } from 'vitest';
import { isFeatError, type Selector } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';

const emu = useEmulator();

class Point {
  x = 1;
}
const cyclic: Record<string, unknown> = { b: 1 };
cyclic.self = cyclic;
let deep: Record<string, unknown> = { x: 1 };
for (let i = 0; i < 20_000; i++) deep = { a: deep };
let fine: Record<string, unknown> = { x: 1 };
for (let i = 0; i < 30; i++) fine = { a: fine };

/** Selector → the words the error must hold (the field's name). */
const refused: [string, Selector, RegExp][] = [
  ['undefined value', { owner: undefined }, /selector › owner is undefined/],
  ['undefined in $in', { a: { $in: [1, undefined] } }, /a › \$in\[1\] is undefined/],
  ['undefined in $eq', { a: { $eq: undefined } }, /a › \$eq is undefined/],
  ['undefined below a field', { b: { c: undefined } }, /b › c is undefined/],
  ['undefined in an array value', { tags: ['x', undefined] }, /tags\[1\] is undefined/],
  ['undefined in an object operand', { a: { $eq: { k: undefined } } }, /\$eq › k is undefined/],
  ['undefined in $or', { $or: [{ a: 1 }, { b: undefined }] }, /\$or\[1\] › b is undefined/],
  ['NaN', { a: NaN }, /a is NaN/],
  ['Infinity', { a: { $lt: Infinity } }, /\$lt is Infinity/],
  ['-Infinity in $nin', { a: { $nin: [-Infinity] } }, /\$nin\[0\] is -Infinity/],
  ['NaN in $elemMatch', { a: { $elemMatch: { $gt: NaN } } }, /\$elemMatch › \$gt is NaN/],
  ['a Date', { a: { $lt: new Date() } }, /\$lt is not a JSON value/],
  ['a Map', { a: new Map() as never }, /selector › a is not a JSON value/],
  ['a class instance', { a: { $eq: new Point() } }, /\$eq is not a JSON value/],
  ['a function', { a: (() => 1) as never }, /selector › a is not a JSON value/],
  ['a cyclic selector', cyclic, /deeper than 64 levels \(or is cyclic\)/],
  ['a deep selector', deep, /deeper than 64 levels/],
];

describe.each(modes)('selector values: $name', (mode) => {
  const client = clientsOf(emu, mode);

  it.each(refused)('%s → invalid_argument naming the field, before any request (find and watchQuery)', async (_, selector, message) => {
    const c = client(uniqueUser('sv'));
    await c.ready();
    await c.store.set('u:1', { owner: 'alice', a: 1 });
    await c.store.flush();
    c.wire.lines.length = 0;
    const error = await c.store.find({ prefix: 'u:', selector }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFeatError(error, 'invalid_argument'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect(() => c.store.watchQuery({ prefix: 'u:', selector }, () => undefined)).toThrow(message);
    expect(c.wire.lines).toEqual([]);
  });

  it('plain values still work: null-prototype objects, arrays, nested fields 30 levels deep', async () => {
    const c = client(uniqueUser('sv'));
    await c.ready();
    await c.store.set('u:1', { owner: 'alice', tags: ['x', 'y'], a: 1 });
    await c.store.set('u:2', { owner: 'bob', a: 2 });
    const owner = Object.assign(Object.create(null) as Record<string, unknown>, { $in: ['alice', 'carol'] });
    expect((await c.store.find({ prefix: 'u:', selector: { owner } })).map((r) => r.key)).toEqual(['u:1']);
    expect((await c.store.find({ prefix: 'u:', selector: { tags: ['x', 'y'] } })).map((r) => r.key)).toEqual(['u:1']);
    expect(await c.store.find({ prefix: 'u:', selector: fine })).toEqual([]);
  });
});
