/**
 * A value the replica holds in a shape no request can carry any more (a black-box attack of the thirty-third session:
 * one device whose app changes its options between launches): stored whole under a `maxRequestBytes` above the proxy's
 * limit, or cut into chunks for a larger limit, then a launch with the right (smaller) limit. It was sent again and
 * again, refused each time, until the app wrote the value again: `pending()` stayed above 0, `waitForPush()` timed out,
 * and a chunked value's refusals named internal chunk ids. Now the push cuts it for the current limits (store.ts
 * `reshape`: same value, same time and expiry), sends it, and names the key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, type ExportLine, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { text, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
afterEach(async () => {
  if (emu.suspended) await emu.resume();
});
const replicaPath = () => {
  const dir = mkdtempSync(join(tmpdir(), 'feat-limits-lowered-'));
  dirs.push(dir);
  return join(dir, 'app');
};

/** One launch of the app on this device (the replica `name` on disk, kept across launches). */
function launch(user: string, name: string, extra: Partial<FeatClientOptions> = {}): FeatClient & { errors: FeatError[] } {
  const c = emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      local: { adapter: 'leveldb', name },
      maintenance: { enabled: false },
      requestTimeout: 5_000,
      ...extra,
    } as FeatClientOptions),
  ) as FeatClient & { errors: FeatError[] };
  c.errors = [];
  c.sync.on('error', (e) => c.errors.push(e));
  return c;
}

async function onServer(user: string, key: string): Promise<unknown> {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
  try {
    return await c.store.get(key);
  } finally {
    await c.close();
  }
}

describe('a launch with a smaller maxRequestBytes than the one a value was stored under', () => {
  it('a 2 MB value stored whole under 4 MiB (refused by the 1 MiB proxy) reaches the server once the app sets the default', async () => {
    const user = uniqueUser('limits-whole');
    const name = replicaPath();
    const value = text(2_000_000, 11);
    const a = launch(user, name, { maxRequestBytes: 4 * 1_048_576 });
    await a.ready();
    await a.store.set('big', value, { ttl: 3_600_000 });
    await expect(a.sync.waitForPush({ timeout: 5_000 })).rejects.toMatchObject({ code: 'timeout' });
    expect(a.errors.map((e) => `${e.code}:${e.key}`)).toContain('too_large:big');
    await a.close();
    // When it was written, as the replica holds it.
    const local = launch(user, name, { couchUrl: 'http://127.0.0.1:9' });
    const written = (await local.exportData()).trim().split('\n').slice(1).map((l) => JSON.parse(l) as ExportLine).find((l) => l.key === 'big')!;
    await local.close();
    const b = launch(user, name);
    await b.ready();
    await b.sync.waitForPush({ timeout: 20_000 });
    expect(await b.sync.pending()).toBe(0);
    expect(await onServer(user, 'big')).toBe(value);
    // The same value, its time and its expiry: another device reads it as the app wrote it.
    const reader = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' });
    try {
      const lines = (await reader.exportData()).trim().split('\n').slice(1).map((l) => JSON.parse(l) as ExportLine);
      const entry = lines.find((l) => l.key === 'big');
      expect(entry?.updatedAt).toBe(written.updatedAt);
      expect(entry?.expiresAt).toBe(written.expiresAt);
      expect(written.expiresAt).toBeGreaterThan(Date.now() + 3_000_000);
    } finally {
      await reader.close();
    }
  }, 90_000);

  it('a 3 MB value chunked under the default limit, written offline, then a launch with 64 KiB: pushed, refusals told under its key', async () => {
    const user = uniqueUser('limits-chunks');
    const name = replicaPath();
    const value = text(3_000_000, 5);
    const a = launch(user, name);
    await a.ready();
    await a.store.set('seed', 1);
    await a.sync.waitForPush({ timeout: 15_000 });
    await emu.suspend();
    await a.store.set('big', value);
    await a.close().catch(() => undefined);
    await emu.resume();
    const b = launch(user, name, { maxRequestBytes: 65_536 });
    await b.ready();
    await b.sync.waitForPush({ timeout: 30_000 });
    expect(await b.sync.pending()).toBe(0);
    expect(await onServer(user, 'big')).toBe(value);
    // (Before: `too_large` for each chunk id, `feat~chunk~…`, and never pushed.)
    for (const e of b.errors) expect(e.key ?? '').not.toMatch(/^feat~chunk~/);
  }, 90_000);

  it('a value whose ttl ran out before the next launch: sent as it is (expired), nothing resurrected, pending 0', async () => {
    // (The attack of the fix: an expired value was not cut again, and stayed pending and refused for good.)
    const user = uniqueUser('limits-expired');
    const name = replicaPath();
    const a = launch(user, name, { maxRequestBytes: 4 * 1_048_576 });
    await a.ready();
    await a.store.set('doc', text(2_000_000, 10), { ttl: 2_000 });
    await expect(a.sync.waitForPush({ timeout: 3_000 })).rejects.toMatchObject({ code: 'timeout' });
    await a.close();
    await new Promise((r) => setTimeout(r, 500));
    const b = launch(user, name);
    await b.ready();
    await b.sync.waitForPush({ timeout: 15_000 });
    // (waitForPush() does not wait for an expired value: it reads as absent. Its new shape goes just after.)
    await expect.poll(() => b.sync.pending(), { timeout: 15_000 }).toBe(0);
    expect(await b.store.get('doc')).toBeUndefined();
    expect(await onServer(user, 'doc')).toBeUndefined();
  }, 60_000);
});
