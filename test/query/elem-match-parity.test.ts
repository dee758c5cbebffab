/**
 * `$elemMatch`/`$allMatch` (and the operators around them) over every kind of array: local-first (pouchdb-find and
 * pouchdb-selector-core underneath) answers as remote mode does, whose answer is the server's own — CouchDB 3.4 on the
 * real backend. pouchdb-selector-core reads a sub-selector's operators as fields of each element when the array starts
 * with an object or array ("Cannot read properties of undefined (reading '0')"), and its `$in`/`$nin` never hold for
 * `null`.
 */
import { expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { clients, LOCAL, REMOTE } from './parity-harness.js';

const emu = useEmulator();
const client = clients(emu);

const DOCS = {
  empty: { tags: [] },
  one: { tags: ['urgent'] },
  two: { tags: ['urgent', 'home'] },
  nul: { tags: [null, 'home'] },
  nested: { tags: [['urgent']] },
  nestedE: { tags: [[]] },
  plain: { tags: 'urgent' },
  none: { tags: null },
  num: { tags: 1 },
  obj: { tags: { '0': 'urgent', a: null } },
  eobj: { tags: [{}] },
  objs: { tags: [{ a: null }, { a: 1 }] },
  objNul: { tags: [{ a: 2 }, null] },
  arrNul: { tags: [['home'], null] },
  nums: { tags: [1, 5, 9] },
  mixed: { tags: [1, { a: null }] },
  missing: { other: 1 },
};

const SELECTORS: Record<string, unknown>[] = [
  // Operators on the element itself.
  { tags: { $elemMatch: { $ne: null } } },
  { tags: { $elemMatch: { $ne: 'urgent' } } },
  { tags: { $elemMatch: { $ne: ['urgent'] } } },
  { tags: { $elemMatch: { $in: [null] } } },
  { tags: { $elemMatch: { $in: [null, 'home'] } } },
  { tags: { $elemMatch: { $in: [['urgent'], null] } } },
  { tags: { $elemMatch: { $nin: [null] } } },
  { tags: { $elemMatch: { $nin: ['urgent'] } } },
  { tags: { $elemMatch: { $nin: [null, 'home'] } } },
  { tags: { $elemMatch: { $eq: null } } },
  { tags: { $elemMatch: { $gt: 4 } } },
  { tags: { $elemMatch: { $gt: 0, $lt: 4 } } },
  { tags: { $elemMatch: { $type: 'null' } } },
  { tags: { $elemMatch: { $exists: true } } },
  { tags: { $elemMatch: { $size: 1 } } },
  { tags: { $elemMatch: { $or: [{ $eq: 'home' }, { $eq: 9 }] } } },
  { tags: { $elemMatch: { $and: [{ $ne: null }, { $ne: 'urgent' }] } } },
  { tags: { $allMatch: { $and: [{ $ne: null }, { $ne: 'urgent' }] } } },
  { tags: { $allMatch: { $in: [null, 'home'] } } },
  { tags: { $allMatch: { $in: ['urgent', 'home'] } } },
  { tags: { $allMatch: { $nin: [null] } } },
  { tags: { $allMatch: { $nin: ['home'] } } },
  { tags: { $allMatch: { $ne: null } } },
  { tags: { $allMatch: { $ne: ['urgent'] } } },
  { tags: { $allMatch: { $eq: 'urgent' } } },
  { tags: { $allMatch: { $gt: 0 } } },
  { tags: { $not: { $elemMatch: { $ne: null } } } },
  { tags: { $not: { $allMatch: { $nin: [null] } } } },
  { $nor: [{ tags: { $elemMatch: { $in: [null] } } }] },
  // Fields of the elements.
  { tags: { $elemMatch: { a: null } } },
  { tags: { $elemMatch: { a: { $in: [null] } } } },
  { tags: { $elemMatch: { a: { $in: [null, 2] } } } },
  { tags: { $elemMatch: { a: { $nin: [1] } } } },
  { tags: { $elemMatch: { a: { $ne: 1 } } } },
  { tags: { $elemMatch: { $or: [{ a: 1 }, { a: 2 }] } } },
  { tags: { $allMatch: { a: { $in: [null, 1] } } } },
  { tags: { $allMatch: { a: { $exists: true } } } },
  { tags: { $elemMatch: { a: { $ne: ['x'] } } } },
  { tags: { $elemMatch: { $not: { $eq: 'urgent' } } } },
  { tags: { $elemMatch: { $beginsWith: 'h' } } },
  { tags: { $elemMatch: { $in: ['urgent'] } } },
  { tags: { $elemMatch: { $all: ['urgent'] } } },
  // Around them.
  { tags: { $all: [] } },
  { tags: { $not: { $all: [] } } },
  { tags: { $all: [[]] } },
  { tags: { $in: [[], 'urgent'] } },
  { tags: { $nin: [[], 'urgent'] } },
  { 'tags.0': null },
  { 'tags.0': { $exists: true } },
  { 'tags.0.0': { $exists: false } },
  { tags: { $or: [{ $in: [null] }, { $eq: 1 }] } },
  { tags: { $nor: [{ $in: [null] }] } },
  { tags: { $not: { $nin: [null] } } },
  { tags: { $ne: ['urgent'] } },
  { tags: { $in: [['urgent']], $nin: ['x'] } },
  { tags: { $all: [null] } },
  { tags: { $not: { $elemMatch: { $eq: null } } } },
  { tags: { $elemMatch: {} } },
  { tags: { $elemMatch: { $eq: {} } } },
];

it('local-first answers $elemMatch / $allMatch as remote mode (the server) does, without failing', async () => {
  const remote = client(uniqueUser('elem'), REMOTE);
  const local = client(uniqueUser('elem'), LOCAL);
  await Promise.all([remote.ready(), local.ready()]);
  await Promise.all([remote.store.setParts('u', DOCS), local.store.setParts('u', DOCS)]);
  const answer = (c: typeof remote, selector: Record<string, unknown>) =>
    c.store.find({ prefix: 'u', selector }, { onWarning: () => undefined }).then(
      (rows) => rows.map((r) => r.subkey).join(','),
      (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
    );
  const differing: string[] = [];
  for (const selector of SELECTORS) {
    const [r, l] = await Promise.all([answer(remote, selector), answer(local, selector)]);
    if (r !== l) differing.push(`${JSON.stringify(selector)}\n  remote: ${r}\n  local:  ${l}`);
  }
  expect(differing.join('\n')).toBe('');
}, 60_000);
