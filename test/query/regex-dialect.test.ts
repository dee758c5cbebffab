/**
 * `$regex` is JavaScript's RegExp on the replica (and in the SDK's own check) and PCRE on CouchDB: a pattern the two
 * read otherwise — one refuses it (`\u0041`, `[^]`), or reads a letter where the other reads a class or an anchor
 * (`\x{41}`, `\p{L}`, `\A`) — is refused with `invalid_argument` before any request, in both modes; the patterns both
 * read alike answer alike.
 */
import { describe, expect, it } from 'vitest';
import { isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';

const emu = useEmulator();
const refused = ['\\u0041bc', '[^]bc', '[]a]', '\\x{41}bc', '\\p{L}bc', '\\Abc', '\\hbc', '^[[:alpha:]]$', 'a[[.-.]]'];
const alike = ['^A', 'b.$', '\\x41bc', '[^a]bc', '[\\]a]bc', '^\\w\\wc$', '(b)c|\\d', '\\\\u', '^[[]', '^[^[]+$'];

describe('$regex dialects', () => {
  const remote = clientsOf(emu, modes[0]);
  const local = clientsOf(emu, modes[1]);

  it('patterns JavaScript and PCRE read otherwise are refused before any request; the others answer alike', async () => {
    const user = uniqueUser('rx');
    const r = remote(user);
    const l = local(user);
    await r.ready();
    await r.store.set('s:1', { s: 'Abc' });
    await r.store.set('s:2', { s: 'abc' });
    await l.ready();
    await l.store.flush();
    const run = (c: typeof r, p: string) =>
      c.store.find<{ s: string }>({ prefix: 's:', selector: { s: { $regex: p } } }, { onWarning: () => undefined }).then(
        (x) => x.map((y) => y.value.s).join('|') || '(none)',
        (e: unknown) => (isFeatError(e) ? `!${e.code}` : `raw:${String(e)}`),
      );
    for (const c of [r, l]) {
      c.wire.lines.length = 0;
      for (const p of refused) expect([p, await run(c, p)]).toEqual([p, '!invalid_argument']);
      expect(c.wire.lines).toEqual([]);
    }
    // (The replica may not have pulled both values yet: compared once it has.)
    for (let i = 0; (await run(l, '.')) !== 'Abc|abc' && i < 100; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    for (const p of alike) expect([p, await run(l, p)]).toEqual([p, await run(r, p)]);
  });
});
