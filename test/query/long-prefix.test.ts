/**
 * `find({ prefix })` and `watchQuery({ prefix })` of a long key, in remote mode: the SDK asks the server with an
 * anchored `$regex` of the prefix. The emulator refused any pattern over 1,000 characters (its guard against
 * catastrophic backtracking), so a key of 1,000 characters or more — accepted by the store, answered by CouchDB — could
 * not be queried there. A literal pattern (no quantifier, no alternation) runs in linear time: the guard lets it
 * through, and still refuses a long pattern that could backtrack.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { ON_REAL } from '../support/target.js';
import { couch } from '../emulator/helpers.js';

const emu = useEmulator();

/** The longest key made of `unit` after `head` that the store accepts (3,000 URL bytes of its JSON). */
function longest(unit: string, head = ''): string {
  const bytes = (key: string) => encodeURIComponent(JSON.stringify(key)).length;
  let key = head;
  while (bytes(key + unit) <= 3000) key += unit;
  return key;
}

const modes = [
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first', options: { local: { adapter: 'memory' } } },
] as const;

describe.each(modes)('a query of a long key’s prefix: $name', ({ options }) => {
  it('find({ prefix }) and watchQuery({ prefix }) find it', { timeout: 60_000 }, async () => {
    const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('lpx')), ...options } as FeatClientOptions));
    const keys = [longest('x', 'k'), 'y'.repeat(1001), '.'.repeat(600), longest('(', 'o'), longest('\u{1F600}', 'e')];
    for (const [i, k] of keys.entries()) await c.store.set(k, { i });
    const problems: string[] = [];
    for (const [i, k] of keys.entries()) {
      const found = await c.store.find({ prefix: k }).then(
        (r) => JSON.stringify(r.map((x) => x.value)),
        (e: unknown) => `${isFeatError(e) ? e.code : 'untyped'}: ${String(e).slice(0, 140)}`,
      );
      if (found !== JSON.stringify([{ i }])) problems.push(`find #${i} (${k.length} units) → ${found}`);
      const live = await new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve('no results in 10 s'), 10_000);
        const stop = c.store.watchQuery({ prefix: k }, (results) => {
          clearTimeout(timer);
          stop();
          resolve(JSON.stringify(results.map((x) => x.value)));
        }, { onError: (e: unknown) => {
          clearTimeout(timer);
          stop();
          resolve(`${isFeatError(e) ? e.code : 'untyped'}: ${String(e).slice(0, 60)}`);
        } });
      });
      if (live !== JSON.stringify([{ i }])) problems.push(`watchQuery #${i} (${k.length} units) → ${live}`);
    }
    expect(problems).toEqual([]);
  });
});

describe.runIf(!ON_REAL)('the emulator’s $regex guard', () => {
  it('still refuses a long pattern that could backtrack', async () => {
    const user = uniqueUser('lpx-guard');
    const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' } as FeatClientOptions));
    const { dbName } = await c.ready();
    const ask = (pattern: string) => couch(emu, user, `/${dbName}/_find`, { method: 'POST', body: { selector: { _id: { $regex: pattern } } } });
    const refused = await ask('(a+)+' + 'b'.repeat(1000));
    expect(refused.status).toBe(400);
    expect((refused.json as { error: string }).error).toBe('bad_arg');
    const literal = await ask('^' + '\\.'.repeat(2000));
    expect(literal.status).toBe(200);
  });
});
