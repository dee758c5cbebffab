/**
 * Mango operators on mixed values as CouchDB 3.4.3 reads them, in remote mode (the selector as sent to the server) and
 * in local-first mode (pouchdb-find and pouchdb-selector-core underneath). Each expectation is the real server's own
 * `_find` answer for the same documents, measured over a database without a json index (with one, CouchDB 3.4.3 fails
 * with 500 `function_clause` on `null` or an array in an `$in`, `$nin` or `$all` list): `$in`/`$nin` match an array
 * by its elements, `$all: []` nothing, `$all: [A]` (A an array) also the field equal to A, `$ne` compares whole values,
 * `$elemMatch` skips elements that are not objects for their fields, a path's index enters arrays (and objects) only.
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { clients, LOCAL, REMOTE } from './parity-harness.js';

const emu = useEmulator();
const client = clients(emu);

const MODES = [
  { name: 'remote', options: REMOTE },
  { name: 'local-first (memory)', options: LOCAL },
] as const;

describe.each(MODES)('Mango operators as CouchDB reads them: $name', (mode) => {
  let c: ReturnType<typeof client> | undefined;
  const ready = async () => {
    if (c) return c;
    c = client(uniqueUser('parity'), mode.options);
    await c.ready();
    await c.store.setParts('t', {
      empty: { tags: [], items: [] },
      one: { tags: ['urgent'], items: [{ done: true }] },
      two: { tags: ['urgent', 'home'], items: [null, { done: false }] },
      nul: { tags: [null, 'home'], items: [{ done: false }, { done: true }] },
      nested: { tags: [['urgent']], items: [[{ done: false }]] },
      plain: { tags: 'urgent', items: 'none' },
      none: { tags: null, items: null },
      num: { tags: 1, name: 'ab' },
      arr1: { tags: [1] },
    });
    // More values (tags only): an array holding an empty object, and a value without the field.
    await c.store.setParts('u', {
      empty: { tags: [] },
      one: { tags: ['urgent'] },
      two: { tags: ['urgent', 'home'] },
      nul: { tags: [null, 'home'] },
      nested: { tags: [['urgent']] },
      plain: { tags: 'urgent' },
      none: { tags: null },
      num: { tags: 1, name: 'ab' },
      arr1: { tags: [1] },
      eobj: { tags: [{}] },
      missing: { other: 1 },
    });
    // Arrays starting with an object or array (pouchdb-selector-core reads a sub-selector's operators as fields of
    // their elements), objects holding null.
    await c.store.setParts('v', {
      empty: { tags: [] },
      one: { tags: ['urgent'] },
      two: { tags: ['urgent', 'home'] },
      nul: { tags: [null, 'home'] },
      nested: { tags: [['urgent']] },
      nestedE: { tags: [[]] },
      plain: { tags: 'urgent' },
      none: { tags: null },
      obj: { tags: { '0': 'urgent', a: null } },
      eobj: { tags: [{}] },
      objs: { tags: [{ a: null }, { a: 1 }] },
      arrNul: { tags: [['home'], null] },
      missing: { other: 1 },
    });
    return c;
  };
  const ids = async (selector: Record<string, unknown>, prefix = 't') =>
    (await (await ready()).store.find({ prefix, selector }, { onWarning: () => undefined })).map((r) => r.subkey).join(',');
  const more = (selector: Record<string, unknown>) => ids(selector, 'u');
  const mixed = (selector: Record<string, unknown>) => ids(selector, 'v');

  it('$in with null in the list still matches array elements', async () => {
    expect(await ids({ tags: { $in: ['urgent', null] } })).toBe('none,nul,one,plain,two');
    expect(await ids({ tags: { $in: [null] } })).toBe('none,nul');
  });

  it('$nin with null in the list excludes arrays holding null', async () => {
    expect(await ids({ tags: { $nin: [null] } })).toBe('arr1,empty,nested,num,one,plain,two');
  });

  it('$in / $nin with [] in the list compare array elements, not the array', async () => {
    expect(await ids({ tags: { $in: [[]] } })).toBe('');
    expect(await ids({ tags: { $nin: [[]] } })).toBe('arr1,empty,nested,none,nul,num,one,plain,two');
  });

  it('$in / $nin with an array in the list answer (no 500 function_clause from the server)', async () => {
    expect(await ids({ tags: { $in: [['urgent']] } })).toBe('nested');
    expect(await ids({ tags: { $nin: [['urgent']] } })).toBe('arr1,empty,none,nul,num,one,plain,two');
  });

  it('$all with null or an array answers; [A] (A an array) is "equal to A, or holding A"', async () => {
    expect(await ids({ tags: { $all: [null] } })).toBe('nul');
    expect(await ids({ tags: { $all: [['urgent']] } })).toBe('nested,one');
    expect(await more({ tags: { $all: [null, 'home'] } })).toBe('nul');
  });

  it('$all: [] matches nothing', async () => {
    expect(await ids({ tags: { $all: [] } })).toBe('');
  });

  it('$ne with an array is "not equal to that array"', async () => {
    expect(await ids({ tags: { $ne: [] } })).toBe('arr1,nested,none,nul,num,one,plain,two');
    expect(await ids({ tags: { $ne: [1] } })).toBe('empty,nested,none,nul,num,one,plain,two');
    expect(await more({ tags: { $ne: [] } })).toBe('arr1,eobj,nested,none,nul,num,one,plain,two');
  });

  it('negated $in / $nin / $all with null or arrays: the field must exist, arrays by their elements', async () => {
    expect(await more({ tags: { $not: { $in: ['urgent', null] } } })).toBe('arr1,empty,eobj,nested,num');
    expect(await more({ $not: { tags: { $nin: [null, ['urgent']] } } })).toBe('nested,none,nul');
    expect(await more({ $not: { tags: { $all: [['urgent']] } } })).toBe('arr1,empty,eobj,none,nul,num,plain,two');
  });

  it('$elemMatch on fields over an array holding null: the other elements match, no failure', async () => {
    expect(await ids({ items: { $elemMatch: { done: false } } })).toBe('nul,two');
    expect(await ids({ items: { $allMatch: { done: { $exists: true } } } })).toBe('nul,one');
  });

  it('$elemMatch: { $eq: null } matches a null element only; {} an empty object element', async () => {
    expect(await ids({ tags: { $elemMatch: { $eq: null } } })).toBe('nul');
    expect(await ids({ tags: { $elemMatch: {} } })).toBe('');
    expect(await more({ tags: { $elemMatch: {} } })).toBe('eobj');
  });

  it("a path through an index ('tags.0') enters arrays only, never strings or falsy values", async () => {
    expect(await ids({ 'tags.0': { $exists: true } })).toBe('arr1,nested,nul,one,two');
    expect(await ids({ 'name.0': 'a' })).toBe('');
    expect(await more({ 'tags.0.0': 'urgent' })).toBe('nested');
    expect(await more({ 'tags.0': { $exists: false } })).toBe('missing');
  });

  it('inside $elemMatch: $in / $nin / $all with null or arrays over the element itself', async () => {
    expect(await more({ tags: { $elemMatch: { $in: [['urgent'], null] } } })).toBe('nul');
    expect(await more({ tags: { $elemMatch: { $nin: [null, 'home'] } } })).toBe('arr1,eobj,nested,one,two');
    expect(await more({ tags: { $elemMatch: { $all: [['urgent']] } } })).toBe('nested');
  });

  it('$elemMatch / $allMatch of operators over arrays starting with an object or array: answers, no failure', async () => {
    expect(await mixed({ tags: { $elemMatch: { $ne: null } } })).toBe('arrNul,eobj,nested,nestedE,nul,objs,one,two');
    expect(await mixed({ tags: { $elemMatch: { $in: [null] } } })).toBe('arrNul,nul');
    expect(await mixed({ tags: { $elemMatch: { $nin: ['urgent'] } } })).toBe('arrNul,eobj,nestedE,nul,objs,two');
    expect(await mixed({ tags: { $allMatch: { $in: [null, 'home'] } } })).toBe('arrNul,nul');
    expect(await mixed({ tags: { $allMatch: { $nin: [null] } } })).toBe('eobj,nested,nestedE,objs,one,two');
    expect(await mixed({ tags: { $allMatch: { $ne: ['urgent'] } } })).toBe('arrNul,eobj,nestedE,nul,objs,one,two');
    expect(await mixed({ tags: { $not: { $elemMatch: { $ne: null } } } })).toBe('empty,none,obj,plain');
  });

  it("$elemMatch on an element's field: $in with null, $ne compare as at the top", async () => {
    expect(await mixed({ tags: { $elemMatch: { a: { $in: [null] } } } })).toBe('objs');
    expect(await mixed({ tags: { $elemMatch: { a: { $in: [null, 2] } } } })).toBe('objs');
    expect(await mixed({ tags: { $elemMatch: { a: { $ne: 1 } } } })).toBe('objs');
    expect(await mixed({ tags: { $allMatch: { a: { $in: [null, 1] } } } })).toBe('objs');
  });
});

describe('local-first watchQuery', () => {
  it('answers an $elemMatch of operators over an array starting with an object (no failure retried forever)', async () => {
    const c = client(uniqueUser('parity-elem'), LOCAL);
    await c.ready();
    await c.store.setParts('t', { a: { tags: [{ a: 1 }, 'x'] }, b: { tags: [['x']] }, c: { tags: [null] } });
    const sets: string[] = [];
    const errors: unknown[] = [];
    const stop = c.store.watchQuery({ prefix: 't', selector: { tags: { $elemMatch: { $ne: null } } } }, (r) => sets.push(r.map((x) => x.subkey).join(',')), {
      onError: (e) => errors.push(e),
    });
    try {
      await waitFor(() => sets.at(-1) === 'a,b' || errors.length > 0, 15_000, 'the first result set');
      await c.store.setParts('t', { d: { tags: [{}, null] } });
      await waitFor(() => sets.at(-1) === 'a,b,d' || errors.length > 0, 15_000, 'd in the results');
    } finally {
      stop();
    }
    expect(errors).toEqual([]);
  });

  it('delivers a changed value whose $elemMatch array holds null; a value the matcher fails on is no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const c = client(uniqueUser('parity-live'), LOCAL);
      await c.ready();
      await c.store.setParts('t', { a: { items: [{ done: false }] } });
      const sets: string[] = [];
      const errors: unknown[] = [];
      const stop = c.store.watchQuery({ prefix: 't', selector: { items: { $elemMatch: { done: false } } } }, (r) => sets.push(r.map((x) => x.subkey).join(',')), {
        onError: (e) => errors.push(e),
      });
      try {
        await waitFor(() => sets.at(-1) === 'a', 15_000, 'the first result set');
        await c.store.setParts('t', { b: { items: [null, { done: false }] } });
        await c.store.setParts('t', { c: { items: [{ done: false }] } });
        await waitFor(() => sets.at(-1) === 'a,b,c', 15_000, 'a,b,c in the results');
        // An array starting with an object, then null: pouchdb-selector-core fails on it (CouchDB: no match). The
        // failure is the query's (onError), never an unhandled rejection.
        await c.store.setParts('t', { d: { items: [{ done: true }, null] } });
        await waitFor(() => errors.length > 0 || sets.length > 2, 15_000, 'the change handled');
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        stop();
      }
      expect(unhandled.map(String)).toEqual([]);
      expect(sets.at(-1)).toBe('a,b,c');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
