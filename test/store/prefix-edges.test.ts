/**
 * Prefixes `keys()` answers without a request, which the other prefix calls sent:
 * - a prefix with a lone UTF-16 surrogate (the first half of an emoji): `keys()` refuses it (`invalid_argument`);
 *   remote `find`/`watchQuery` sent it (the emulator answered `[]`, CouchDB 400 "invalid UTF-8 JSON" → a misleading
 *   error), and a remote `watch({ prefix }, { initial })` failed its read forever on CouchDB (deaf to later writes),
 *   while local-first listed the emoji keys. All refuse it now, before any request.
 * - a prefix longer than any key: `keys()` answers `[]`; a remote watch's current values sent a request line nginx
 *   refuses (414/431, retried forever, `onCurrent` never called). It reads nothing now: no current values.
 */
import { describe, expect, it } from 'vitest';
import { isFeatError, type FeatError } from '@feat/sdk';
import { clientIn, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

describe.each(['remote', 'local-first'] as const)('%s', (mode) => {
  function counted() {
    const sent: string[] = [];
    const c = clientIn(emu, uniqueUser('pfx'), mode, {
      fetch: ((input: RequestInfo | URL, init?: RequestInit) => {
        sent.push(String(input instanceof Request ? input.url : input));
        return fetch(input, init);
      }) as typeof fetch,
    });
    return { c, sent };
  }

  it('a prefix with a lone surrogate: find, watchQuery and watch refuse it as keys() does, before any request', async () => {
    const { c, sent } = counted();
    await c.store.set('\u{1F600}x', 1);
    const before = sent.length;
    const code = (e: unknown) => (isFeatError(e) ? e.code : `untyped ${String(e)}`);
    expect(await c.store.keys('\uD83D').then(() => 'resolved', code)).toBe('invalid_argument');
    expect(await c.store.find({ prefix: '\uD83D' }).then(() => 'resolved', code)).toBe('invalid_argument');
    expect(() => c.store.watchQuery({ prefix: '\uD83D' }, () => undefined)).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => c.store.watch({ prefix: '\uD83D' }, () => undefined, { initial: true })).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(sent.slice(before).filter((u) => !u.includes('_changes'))).toEqual([]);
    // The whole emoji is a prefix like any other.
    expect((await c.store.find({ prefix: '\u{1F600}' })).map((r) => r.key)).toEqual(['\u{1F600}x']);
  });

  it('a watch of a prefix longer than any key: no current values, onCurrent, no error; later writes under it are impossible', async () => {
    const { c } = counted();
    await c.store.set('x', 1);
    for (const prefix of ['x'.repeat(5_000), '"'.repeat(700), '\u4e2d'.repeat(2_000)]) {
      const events: unknown[] = [];
      const errors: FeatError[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no onCurrent for a prefix of ${prefix.length}; errors: ${errors.map((e) => e.code)}`)), 10_000);
        const stop = c.store.watch({ prefix }, (e) => events.push(e), {
          initial: true,
          onError: (e) => errors.push(e),
          onCurrent: () => {
            clearTimeout(timer);
            stop();
            resolve();
          },
        });
      });
      expect({ events, errors }).toEqual({ events: [], errors: [] });
      expect(await c.store.find({ prefix })).toEqual([]);
      expect(await c.store.keys(prefix)).toEqual([]);
    }
  });
});
