/**
 * Lineage across a wall clock set back mid-run (an NTP correction of a fast clock; only `Date.now` moves, timers run
 * on). One writer's edits are ordered by a counter of that client (lineage.ts `stamp`), not by its clock: a device
 * whose clock went back an hour and then edited a key more times than the server keeps (`_revs_limit` 5) still
 * supersedes the value it started from — the other device does not meet that old value as a conflict and roll the key
 * back to it. A real conflict stays one: the resolver sees the two devices' values, never their old common ancestor.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Conflict } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { device, raw, type Device } from '../support/devices.js';
import { setRevsLimit } from './revs-limit.js';

const emu = useEmulator();

const HOUR = 3_600_000;
const realNow = Date.now.bind(Date);
/** Moves this process's wall clock by `ms` (negative: backwards), as an NTP correction does. */
const jumpClock = (ms: number) => {
  Date.now = () => realNow() + ms;
};
afterEach(() => {
  Date.now = realNow;
});

type Asked = { dev: string; local: unknown; remote: unknown };

/** The documented default (latest `updatedAt` wins), recording what it is asked. */
const latest = (asked: Asked[], dev: string) => (c: Conflict) => {
  asked.push({ dev, local: c.local.value, remote: c.remote.value });
  const w = (c.local.updatedAt ?? 0) >= (c.remote.updatedAt ?? 0) ? c.local : c.remote;
  return w.deleted ? undefined : w.value;
};

/** Waits until both devices and the server hold `want` for `k` with no conflict left; then a moment more. */
async function settled(user: string, devs: Device[], want: unknown): Promise<{ devices: unknown[]; server: unknown }> {
  const server = await raw(emu, user);
  await waitFor(
    async () => {
      const [vs, doc] = await Promise.all([Promise.all(devs.map((d) => d.store.get('k'))), server.doc('k')]);
      return vs.every((v) => v === want) && doc.body.doc === want && !doc.body._conflicts?.length;
    },
    30_000,
    'settled',
  ).catch(() => undefined);
  await sleep(1_000);
  return { devices: await Promise.all(devs.map((d) => d.store.get('k'))), server: (await server.doc('k')).body.doc };
}

/** A, then B, ready; `k` = `v0` written by A while its clock ran an hour fast, held by both; the server keeps 5 revisions. */
async function twoDevices(user: string, asked: Asked[]): Promise<{ a: Device; b: Device }> {
  const a = device(emu, user, { name: 'A', extra: { onConflict: latest(asked, 'A') } });
  const b = device(emu, user, { name: 'B', adapter: 'leveldb', extra: { onConflict: latest(asked, 'B') } });
  await a.ready();
  await setRevsLimit(emu, user, 5);
  await a.store.set('k', 'v0');
  await a.sync.waitForPush({ timeout: 20_000 });
  await b.ready();
  await waitFor(async () => (await b.store.get('k')) === 'v0', 20_000, 'B has v0');
  return { a, b };
}

/** A's clock goes back an hour, then A edits `k` 20 times, each pushed (the server stems its history meanwhile). */
async function editAfterClockBack(a: Device): Promise<void> {
  jumpClock(-HOUR);
  for (let i = 1; i <= 20; i++) {
    await a.store.set('k', `a${i}`);
    await a.sync.waitForPush({ timeout: 20_000 });
  }
}

describe('a device whose clock went back an hour edits a key 20 times (server _revs_limit 5)', () => {
  it('B (offline, untouched) catches up: the last edit everywhere, no resolver, no conflict event', async () => {
    const user = uniqueUser('lc-back');
    const asked: Asked[] = [];
    const { a, b } = await twoDevices(user, asked);
    b.sync.pause();
    await editAfterClockBack(a);
    b.sync.resume();
    expect(await settled(user, [a, b], 'a20')).toEqual({ devices: ['a20', 'a20'], server: 'a20' });
    expect(asked, 'the resolver was asked although only A edited').toEqual([]);
    expect(a.conflicts.length + b.conflicts.length, 'conflict events although only A edited').toBe(0);
    const live = (await (await raw(emu, user)).leaves('k')).filter((l) => !l.deleted).map((l) => l.doc);
    expect(live).toEqual(['a20']);
  }, 90_000);

  it('B edited offline too: a real conflict between the two devices\' last values, never v0', async () => {
    const user = uniqueUser('lc-real');
    const asked: Asked[] = [];
    const { a, b } = await twoDevices(user, asked);
    b.sync.pause();
    for (let i = 1; i <= 3; i++) await b.store.set('k', `b${i}`);
    await editAfterClockBack(a);
    b.sync.resume();
    // B's edits were stamped by a clock an hour ahead of A's (latest updatedAt wins).
    expect(await settled(user, [a, b], 'b3')).toEqual({ devices: ['b3', 'b3'], server: 'b3' });
    expect(asked.length, 'a real conflict').toBeGreaterThan(0);
    expect(asked.flatMap((x) => [x.local, x.remote]).filter((v) => v !== 'a20' && v !== 'b3'), 'a side neither device holds').toEqual([]);
  }, 90_000);
});
