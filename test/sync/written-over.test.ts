/**
 * waitForPush() remembers this client's own writes not yet found on the server (push-tracker `written`). One that
 * another writer wrote on since — here a conflict's resolution, written on top of the device's last write X — is no
 * longer waited for: the later change is the changes feed's to track, and X may never be found on the server by itself.
 *  1. Offline, with everything verified on the server: the call resolves (a look at the server for X would fail).
 *  2. Online, the server's `_revs_limit` lowered (5) and another device writing on: X is stemmed out of the server's
 *     tree, `_revs_diff` would say it is missing for ever.
 */
import { describe, expect, it } from 'vitest';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';
import { outcome } from '../support/resolver-harness.js';
import { device } from '../support/devices.js';
import { setRevsLimit } from './revs-limit.js';

const emu = useEmulator();
const proxy = useFaultProxy(() => emu.couchUrl);

/** A writes A1..A4 offline (CouchDB's winner), B b1..b3 later; A's resolver merges: a revision on top of A4. */
async function resolvedOverOwnWrite(user: string, revsLimit?: number) {
  const a = device(emu, user, { name: 'A', couchUrl: proxy.url, extra: { onConflict: () => 'merged' } as never });
  const b = device(emu, user, { name: 'B' });
  await a.store.set('k', 'v0');
  await a.sync.waitForPush({ timeout: 20_000 });
  if (revsLimit) await setRevsLimit(emu, user, revsLimit);
  await b.ready();
  await waitFor(async () => (await b.store.get('k')) === 'v0', 20_000, 'B has v0');
  a.sync.pause();
  await waitFor(() => a.sync.status === 'paused', 5_000, 'A paused');
  for (const v of ['A1', 'A2', 'A3', 'A4']) await a.store.set('k', v);
  for (const v of ['b1', 'b2', 'b3']) {
    await b.store.set('k', v);
    await b.sync.waitForPush({ timeout: 20_000 });
  }
  b.sync.pause();
  a.sync.resume();
  await waitFor(async () => (await a.store.get('k')) === 'merged', 20_000, 'A resolved');
  // Everything on the server, verified (no waitForPush: pending() does not prune the remembered write).
  await waitFor(async () => (await a.sync.pending()) === 0, 20_000, 'A pending 0');
  await sleep(500);
  return { a, b };
}

describe('waitForPush: an own write a resolution wrote over', () => {
  it('offline, everything verified: resolves at once', async () => {
    const user = uniqueUser('wfp');
    const { a } = await resolvedOverOwnWrite(user);
    expect(await a.sync.pending()).toBe(0);
    proxy.fault(() => true, 'reset');
    await waitFor(() => a.sync.status === 'offline' || a.sync.status === 'error', 6_000, 'A offline').catch(() => undefined);
    const r = await outcome(a.sync.waitForPush({ timeout: 3_000 }), 5_000);
    proxy.clear();
    expect(r.how).toBe('resolved');
  }, 90_000);

  it('server _revs_limit 5, another device writes on: resolves (everything is on the server)', async () => {
    const user = uniqueUser('wfp');
    const { a, b } = await resolvedOverOwnWrite(user, 5);
    b.sync.resume();
    await waitFor(async () => (await b.store.get('k')) === 'merged', 20_000, 'B pulled the resolution');
    for (let i = 4; i < 12; i++) {
      await b.store.set('k', `b${i}`);
      await b.sync.waitForPush({ timeout: 20_000 });
    }
    await waitFor(async () => (await a.store.get('k')) === 'b11', 20_000, 'A pulled b11');
    await waitFor(async () => (await a.sync.pending()) === 0, 20_000, 'A pending 0');
    const r = await outcome(a.sync.waitForPush({ timeout: 5_000 }), 7_000);
    // (Any later call too: the remembered write is never found, never forgotten.)
    await sleep(2_000);
    const again = await outcome(a.sync.waitForPush({ timeout: 5_000 }), 7_000);
    expect({ first: r.how, again: again.how }).toEqual({ first: 'resolved', again: 'resolved' });
  }, 120_000);

  it('control: the same online, no _revs_limit: resolves', async () => {
    const user = uniqueUser('wfp');
    const { a } = await resolvedOverOwnWrite(user);
    const r = await outcome(a.sync.waitForPush({ timeout: 5_000 }), 7_000);
    expect(r.how).toBe('resolved');
  }, 90_000);
});
