/**
 * `watch(key)` of a key `set()` refuses: it returned an unsubscribe and never reported anything. It now throws
 * `invalid_key` at once, as `set()` rejects it (other bad watch arguments already threw `invalid_argument`).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

describe.each([
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first', options: { local: { adapter: 'memory' } } },
] as const)('watch() of a refused key: $name', ({ options }) => {
  it('throws invalid_key synchronously, for a key and for { key }', () => {
    const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('wbk')), ...options } as FeatClientOptions));
    for (const key of ['_x', '_design/x', 'feat~chunk', 'a\u0000', '\ud800', 'x'.repeat(3000), '\uffff'.repeat(9)]) {
      for (const target of [key, { key }]) {
        let thrown: unknown;
        try {
          c.store.watch(target, () => undefined)();
        } catch (error) {
          thrown = error;
        }
        expect(isFeatError(thrown, 'invalid_key'), `watch(${JSON.stringify(target).slice(0, 40)})`).toBe(true);
      }
    }
    // A prefix is not a key: any prefix may be watched.
    expect(typeof c.store.watch({ prefix: '_x' }, () => undefined)).toBe('function');
  });
});
