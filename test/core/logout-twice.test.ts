/**
 * close() / logout() / logout({ destroyLocal: true }) twice, at once (a double click) or one after the other: every
 * call settles ok. On a LevelDB replica the second of two concurrent logouts never settled (both opened or deleted the
 * same replica directory at once); logouts now run one after another.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const dir = mkdtempSync(join(tmpdir(), 'feat-logout-twice-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tag = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isFeatError(e) ? e.code : `RAW ${String(e)}`),
  );
const bounded = (p: Promise<string>, ms = 15_000) => Promise.race([p, new Promise<string>((r) => setTimeout(r, ms, 'HANG'))]);

type End = 'close' | 'logout' | 'destroy';
const call = (c: ReturnType<typeof createFeatClient>, e: End) => (e === 'close' ? c.close() : c.logout(e === 'destroy' ? { destroyLocal: true } : {}));
const pairs: [End, End, boolean][] = [];
for (const a of ['close', 'logout', 'destroy'] as End[]) for (const b of ['close', 'logout', 'destroy'] as End[]) for (const conc of [true, false]) pairs.push([a, b, conc]);

describe.each(['leveldb', 'memory'] as const)('%s replica', (adapter) => {
  it.each(pairs)('%s then %s (concurrently: %s): both settle ok', async (a, b, concurrent) => {
    const c = createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(uniqueUser('lo')),
      local: adapter === 'leveldb' ? { adapter, name: join(dir, `r${n++}`) } : { adapter },
    });
    await c.ready();
    await c.store.set('k', 1);
    let out: string[];
    if (concurrent) out = await Promise.all([bounded(tag(call(c, a))), bounded(tag(call(c, b)))]);
    else out = [await bounded(tag(call(c, a))), await bounded(tag(call(c, b)))];
    expect(out).toEqual(['ok', 'ok']);
  }, 60_000);
});
