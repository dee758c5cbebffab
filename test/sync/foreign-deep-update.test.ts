/**
 * Another app replaces a key the device's replica holds by a value nested deeper than the replica can take (README
 * "Values": up to 1,000 levels). The pull writes that revision without its value (reads answer `undefined`, never the
 * superseded value), reports one `invalid_value`, and goes on: later changes of other keys arrive. On real CouchDB the
 * value is 5,000 levels, deeper than `JSON.stringify`'s stack (the pull's revision check used to overflow there and
 * retry the batch for ever); the emulator stores at most 2,000.
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device } from '../support/devices.js';
import { rawDatabase } from '../support/resolver-harness.js';
import { ON_REAL } from '../support/target.js';

const emu = useEmulator();
const DEEP = ON_REAL ? 5_000 : 1_500;
const arrays = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

async function setup(prefix: string) {
  const user = uniqueUser(prefix);
  const r = device(emu, user, { name: 'r', mode: 'remote' });
  await r.ready();
  await r.store.set('x', { status: 'old' });
  const l = device(emu, user, { name: 'l', extra: { initialSyncTimeout: 30_000, maintenance: { enabled: false } } });
  await l.ready();
  expect(await l.store.get('x')).toEqual({ status: 'old' });
  // Another app replaces x (the document the replica holds) by a deeper value.
  const { url, headers } = await rawDatabase(emu, user);
  const cur = (await (await fetch(`${url}/x`, { headers })).json()) as { _rev: string };
  const put = await fetch(`${url}/x`, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/json' }, body: `{"_rev":"${cur._rev}","doc":${arrays(DEEP)}}` });
  expect(put.status).toBe(201);
  await r.store.set('later', 1);
  return { r, l };
}

describe('a key another app replaced by a value deeper than the replica holds (live pull)', () => {
  it('the live pull passes it (one invalid_value) and later changes still arrive', async () => {
    const { l } = await setup('deep-live');
    await waitFor(async () => (await l.store.get('later')) === 1, 60_000, 'the later change pulled').catch((e: Error) => {
      throw new Error(`${e.message}; errors: ${JSON.stringify(l.errors.map((x) => [x.code, x.key, x.message]))}; status: ${JSON.stringify(l.sync.status)}`);
    });
    expect(l.errors.map((e) => [e.code, e.key])).toEqual([['invalid_value', 'x']]);
  }, 120_000);

  it('the replica does not answer the superseded value', async () => {
    const { r, l } = await setup('deep-stale');
    await waitFor(async () => (await l.store.get('later')) === 1, 60_000, 'the later change pulled');
    expect(await r.store.get('x')).not.toEqual({ status: 'old' });
    // README: "reads there answer `undefined` for its key until a shallower version replaces it".
    expect(await l.store.get('x'), 'local-first get("x") answers the superseded value').toBeUndefined();
  }, 120_000);
});
