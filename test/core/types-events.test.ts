/** The declared types at runtime: sync events typed in FeatSyncEvents are emitted with the typed payloads (emulator, local-first). */
import { expect, it } from 'vitest';
import { createFeatClient, FeatError, type ConflictEvent, type InitialSyncEvent } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

it('initialSync, pending, status and conflict events carry what FeatSyncEvents declares', async () => {
  const user = uniqueUser('types-ev');
  const opts = { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } };
  const a = emu.track(createFeatClient(opts));
  const initial: InitialSyncEvent[] = [];
  const statuses: string[] = [];
  const pend: number[] = [];
  a.sync.on('initialSync', (e) => initial.push(e));
  a.sync.on('status', (s) => statuses.push(s));
  a.sync.on('pending', (n) => pend.push(n));
  await a.ready();
  expect(initial.map((e) => e.phase)).toContain('start');
  expect(initial.at(-1)?.phase).toBe('done');
  for (const e of initial) {
    expect(Object.keys(e).sort()).toEqual(['complete', 'docs', 'pending', 'phase', 'startedAt', 'timeoutMs']);
    expect(e.pending === undefined || typeof e.pending === 'number').toBe(true);
  }
  await a.store.set('k', 1);
  await a.sync.waitForPush({ timeout: 10_000 });
  await expect.poll(() => pend.at(-1), { timeout: 5_000 }).toBe(0);
  expect(pend.every((n) => typeof n === 'number')).toBe(true);
  for (const s of statuses) expect(['idle', 'connecting', 'active', 'paused', 'offline', 'error', 'denied']).toContain(s);

  // a write conflict in remote mode: the conflict event is a ConflictEvent
  const r = emu.track(createFeatClient({ ...opts, mode: 'remote', local: undefined }));
  const conflicts: ConflictEvent[] = [];
  const errors: unknown[] = [];
  r.sync.on('conflict', (c) => conflicts.push(c));
  r.sync.on('error', (e) => errors.push(e));
  await r.store.set('k', 2); // not read first: meets a's revision → resolver
  await expect.poll(() => conflicts.length, { timeout: 5_000 }).toBeGreaterThan(0);
  const c = conflicts[0]!;
  expect(c.source).toBe('write');
  expect(c.key).toBe('k');
  for (const side of [c.local, c.remote]) {
    expect(typeof side.deleted).toBe('boolean');
    expect(typeof side.updatedAt).toBe('number');
    expect(side.rev === undefined || typeof side.rev === 'string').toBe(true);
  }
  for (const e of errors) expect(e).toBeInstanceOf(FeatError);
});
