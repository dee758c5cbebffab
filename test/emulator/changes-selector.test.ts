/**
 * `_changes?filter=_selector` runs CouchDB's Mango matcher, as `_find` does (`FEAT_BACKEND=real` runs the same
 * assertions on CouchDB 3.4): `$regex` as PCRE reads it, no condition holding below a scalar, `$ne` never matching a
 * missing field, strings compared by ICU collation; a selector CouchDB cannot read → `400 bad_request` with its reason.
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { couch, signUp } from './helpers.js';

const emu = useEmulator();

const docs: Record<string, Record<string, unknown>> = {
  nl: { s: 'abc\n' },
  cr: { s: 'a\rb' },
  up: { s: 'Apple' },
  lo: { s: 'banana' },
  sc: { n: 5 },
  ob: { n: { m: 1 } },
  none: {},
};

/** selector → the ids CouchDB 3.4.3 answers (measured with FEAT_BACKEND=real). */
const expected: [Record<string, unknown>, string[]][] = [
  [{ s: { $regex: 'c$' } }, ['nl']],
  [{ s: { $regex: '^a.b$' } }, ['cr']],
  [{ s: { $gt: 'apple', $lt: 'b' } }, ['up']],
  [{ 'n.m': { $exists: false } }, ['nl', 'cr', 'up', 'lo', 'none']],
  [{ n: { $ne: 5 } }, ['ob']],
  [{ s: { $beginsWith: 'ban' } }, ['lo']],
];

describe('_changes filter=_selector (as CouchDB matches it)', () => {
  it('matches as _find does: PCRE $regex, ICU collation, missing fields, $beginsWith', async () => {
    const user = uniqueUser('chsel');
    const db = await signUp(emu, user);
    for (const [id, body] of Object.entries(docs)) expect((await couch(emu, user, `/${db}/${id}`, { method: 'PUT', body })).status).toBe(201);
    const got: [Record<string, unknown>, string[]][] = [];
    for (const [selector] of expected) {
      const reply = await couch(emu, user, `/${db}/_changes?filter=_selector`, { method: 'POST', body: { selector } });
      expect(reply.status, JSON.stringify(selector)).toBe(200);
      got.push([selector, (reply.json as { results: { id: string }[] }).results.map((r) => r.id).sort()]);
    }
    expect(got).toEqual(expected.map(([selector, ids]) => [selector, [...ids].sort()]));
  });

  it('a selector CouchDB cannot read → 400 bad_request with its reason', async () => {
    const user = uniqueUser('chselbad');
    const db = await signUp(emu, user);
    const ask = async (selector: unknown) => {
      const reply = await couch(emu, user, `/${db}/_changes?filter=_selector`, { method: 'POST', body: { selector } });
      return [reply.status, (reply.json as { error?: string }).error, (reply.json as { reason?: string }).reason];
    };
    expect(await ask({ a: { $bogus: 1 } })).toEqual([400, 'bad_request', 'Invalid operator: $bogus']);
    expect(await ask({ '': 1 })).toEqual([400, 'bad_request', 'One or more conditions is missing a field name.']);
    expect(await ask([])).toEqual([400, 'bad_request', 'Selector error: expected a JSON object']);
  });
});
