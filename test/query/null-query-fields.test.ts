/**
 * `find({ selector: null })` answered every value (a `null` read as "no selector"), in both modes, and remote mode
 * sent its requests: README, "a malformed query → `invalid_argument` before any request". A `null` selector, prefix or
 * sort is refused now; leaving a field out (or `undefined`) still means its default.
 */
import { describe, expect, it } from 'vitest';
import { isFeatError } from '@feat/sdk';
import { clientIn, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

describe.each(['remote', 'local-first'] as const)('%s: a query field that is null', (mode) => {
  for (const field of ['selector', 'prefix', 'sort'] as const) {
    it(`${field}: null → invalid_argument, nothing sent; the field left out → its default`, async () => {
      let finds = 0;
      const c = clientIn(emu, uniqueUser('qnull'), mode, {
        fetch: ((input: RequestInfo | URL, init?: RequestInit) => {
          if (String(input instanceof Request ? input.url : input).includes('_find')) finds++;
          return fetch(input, init);
        }) as typeof fetch,
      });
      await c.ready();
      await c.store.set('a', { n: 1 });
      const outcome = await c.store.find({ [field]: null } as never).then(
        (v) => `resolved with ${v.length}`,
        (e: unknown) => (isFeatError(e) ? e.code : `untyped ${String(e)}`),
      );
      expect(outcome).toBe('invalid_argument');
      expect(() => c.store.watchQuery({ [field]: null } as never, () => undefined)).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
      expect(finds).toBe(0);
      expect((await c.store.find({ [field]: undefined } as never)).map((r) => r.key)).toEqual(['a']);
    });
  }
});
