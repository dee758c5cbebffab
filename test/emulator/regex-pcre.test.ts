/**
 * `$regex` in remote mode answers as CouchDB 3.4's PCRE (Erlang's `re`, compiled without options) reads the pattern,
 * on the emulator as on the server (`FEAT_BACKEND=real` runs the same assertions on CouchDB): `$` also matches before
 * a final `\n` (not before the last of two), `.` matches any character but `\n` (`\r` too, which JavaScript's `.`
 * excludes); an escaped `\$` or `\.` and the characters of a class stay literal. A `]` first in a class is a literal
 * to PCRE (the SDK refuses such a pattern, so it is sent raw).
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { clientsOf, modes } from '../store/helpers.js';
import { couch, signUp } from './helpers.js';

const emu = useEmulator();

const values = ['abc', 'abc\n', 'abc\n\n', 'a\rb', 'a\nb', 'a.b', 'a$', 'a', '.', '$', '.\n', 'x', '\r', 'a]', 'ab', 'abc\r'];
/** pattern → the values CouchDB 3.4.3 matches (measured with FEAT_BACKEND=real). */
const expected: [string, string[]][] = [
  ['^abc$', ['abc', 'abc\n']],
  ['c$', ['abc', 'abc\n']],
  ['^a.b$', ['a\rb', 'a.b']],
  ['^.$', ['a', '.', '$', 'x', '\r', '.\n']],
  ['a\\$', ['a$']],
  ['^a\\$$', ['a$']],
  ['^a\\.b$', ['a.b']],
  ['^[.$]$', ['.', '$', '.\n']],
  ['^abc\\n$', ['abc\n', 'abc\n\n']],
  ['^abc\\r$', ['abc\r']],
  ['a$b', []],
  ['^a[^\\n]b$', ['a\rb', 'a.b']],
  ['^[^\\n]b$', ['ab']],
];

describe('$regex as PCRE reads it (remote mode)', () => {
  const client = clientsOf(emu, modes[0]);

  it('$ before a final newline, . matching \\r, literals and classes: as CouchDB answers', async () => {
    const c = client(uniqueUser('pcre'));
    for (const [i, s] of values.entries()) await c.store.set(`v:${String(i).padStart(2, '0')}`, { s });
    const got: [string, string[]][] = [];
    for (const [pattern] of expected) {
      const rows = await c.store.find<{ s: string }>({ prefix: 'v:', selector: { s: { $regex: pattern } } }, { onWarning: () => undefined });
      got.push([pattern, rows.map((r) => r.value.s)]);
    }
    const order = (list: string[]) => [...list].sort((a, b) => values.indexOf(a) - values.indexOf(b));
    expect(got).toEqual(expected.map(([p, list]) => [p, order(list)]));
  });

  it('a "]" first in a class is a literal (raw _find: the SDK refuses the pattern)', async () => {
    const user = uniqueUser('pcreraw');
    const db = await signUp(emu, user);
    for (const [i, s] of ['a]', 'a', ']', 'b'].entries()) {
      const put = await couch(emu, user, `/${db}/d${i}`, { method: 'PUT', body: { s } });
      expect(put.status).toBe(201);
    }
    const find = async (pattern: string) => {
      const reply = await couch(emu, user, `/${db}/_find`, { method: 'POST', body: { selector: { s: { $regex: pattern } } } });
      return reply.status === 200 ? (reply.json as { docs: { s: string }[] }).docs.map((d) => d.s).sort() : reply.status;
    };
    expect(await find('^[]a]$')).toEqual([']', 'a']);
    expect(await find('^[^]a]$')).toEqual(['b']);
    expect(await find('^a[]]$')).toEqual(['a]']);
    // PCRE: a class left open (JavaScript reads `[]` as an empty class).
    expect(await find('[]')).toBe(400);
  });
});
