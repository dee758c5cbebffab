/**
 * A slice string holding a raw lone surrogate (a custom `serialize` that writes one as it is; redux-persist's default
 * `JSON.stringify` escapes it): no JSON text CouchDB takes can hold it, so the engine keeps such a slice as its JSON
 * text (`{ "$featPersistRawJson": … }`, src/redux/codec.ts). It was refused `invalid_value` after the slices before it
 * were written (another device read the state without it), and every later `setItem` of the key, which sends the
 * unchanged slice again, was refused too (the attack of session 34: every run, both modes, both backends).
 */
import { describe, expect, it } from 'vitest';
import { isFeatError } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';
import { clientIn, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const P = JSON.stringify({ version: -1, rehydrated: true });
const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'accepted', (e: unknown) => (isFeatError(e) ? e.code : String(e)));
const parsed = (state: string | null): Record<string, string> => JSON.parse(state ?? 'null') as Record<string, string>;

describe.each(['remote', 'local-first'] as const)('a slice string with a raw lone surrogate: %s', (mode) => {
  it('is stored and read back exactly, here and on other devices; later writes of the key go on', async () => {
    const user = uniqueUser('raw-surrogate');
    const a = clientIn(emu, user, mode);
    const errors: string[] = [];
    a.sync.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    const storage = createPersistStorage(a.store);
    expect(await storage.getItem('persist:root')).toBeNull();
    const first = { ok: '1', s: '"\ud800"', t: '\udc00', looksLikeOurs: JSON.stringify({ $featPersistRawJson: '"x"' }), _persist: P };
    expect(await outcome(storage.setItem('persist:root', JSON.stringify(first)))).toBe('accepted');
    expect(await storage.getItem('persist:root')).toBe(JSON.stringify(first));
    // redux-persist sends the unchanged slices again with every later state.
    for (const n of ['2', '3']) expect(await outcome(storage.setItem('persist:root', JSON.stringify({ ...first, ok: n })))).toBe('accepted');
    expect(await outcome(storage.flush())).toBe('accepted');
    await a.sync.waitForPush({ timeout: 30_000 });
    for (const other of ['remote', 'local-first'] as const) {
      const b = clientIn(emu, user, other);
      expect(parsed(await createPersistStorage(b.store).getItem('persist:root')), `another ${other} device`).toEqual({ ...first, ok: '3' });
    }
    expect(errors).toEqual([]);
  }, 60_000);
});
