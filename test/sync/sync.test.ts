/**
 * Local-first mode against the emulator: offline writes, partitions that converge, token rotation mid-sync,
 * pause/resume, background errors, the first sync of a new device, logout.
 */
import { mkdtempSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type FeatError, type SyncStatus } from '@feat/sdk';
import { uniqueUser as uniqueName, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator({ profile: 'couchdb' });
const uniqueUser = () => uniqueName('sync');

function device(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  return emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, ...extra }),
  );
}

async function serverDocs(user: string): Promise<{ id: string; doc: { _conflicts?: string[]; doc?: unknown } }[]> {
  const token = (await (await fetch(`${emu.accountsUrl}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } })).json()) as {
    data: { headers: Record<string, string>; dbname: string };
  };
  const res = await fetch(`${emu.couchUrl}/${token.data.dbname}/_all_docs?include_docs=true&conflicts=true`, { headers: token.data.headers });
  return ((await res.json()) as { rows: { id: string; doc: { _conflicts?: string[] } }[] }).rows;
}

describe('local-first sync', () => {
  it('keeps writing offline: status offline, pending > 0, then everything reaches the server and the other device', async () => {
    const user = uniqueUser();
    const a = device(user);
    const b = device(user);
    await Promise.all([a.ready(), b.ready()]);
    await a.sync.waitForPush({ timeout: 10_000 });
    const statuses: SyncStatus[] = [];
    a.sync.on('status', (s) => statuses.push(s));
    await emu.suspend();
    try {
      await waitFor(() => a.sync.status === 'offline', 15_000, 'offline status');
      for (let i = 0; i < 5; i++) await a.store.set(`offline-${i}`, { i });
      expect(await a.store.get('offline-4')).toEqual({ i: 4 });
      expect(await a.sync.pending()).toBeGreaterThanOrEqual(5);
      await expect(a.sync.waitForPush({ timeout: 300 })).rejects.toMatchObject({ code: 'timeout' });
    } finally {
      await emu.resume();
    }
    await a.sync.waitForPush({ timeout: 20_000 });
    expect(await a.sync.pending()).toBe(0);
    expect(statuses).toContain('offline');
    await waitFor(async () => (await b.store.get('offline-4')) !== undefined, 20_000, 'device b to receive');
    expect(await b.store.keys('offline-')).toHaveLength(5);
  }, 60_000);

  it('three devices editing during a partition converge, with no _conflicts left on the server', async () => {
    const user = uniqueUser();
    const devices = [device(user), device(user), device(user)];
    await Promise.all(devices.map((d) => d.ready()));
    await devices[0]!.store.set('shared', { by: 'seed' });
    await devices[0]!.sync.waitForPush({ timeout: 10_000 });
    await waitFor(async () => (await Promise.all(devices.map((d) => d.store.get('shared')))).every((v) => v !== undefined));
    const conflicts: unknown[] = [];
    devices.forEach((d) => d.sync.on('conflict', (e) => conflicts.push(e)));
    devices.forEach((d) => d.sync.pause());
    for (const [i, d] of devices.entries()) {
      await d.store.set('shared', { by: `device-${i}` });
      await d.store.set(`own-${i}`, i);
      await new Promise((r) => setTimeout(r, 5));
    }
    devices.forEach((d) => d.sync.resume());
    for (const d of devices) await d.sync.waitForPush({ timeout: 20_000 });
    await waitFor(
      async () => {
        const values = await Promise.all(devices.map((d) => d.store.get('shared')));
        return values.every((v) => JSON.stringify(v) === JSON.stringify({ by: 'device-2' }));
      },
      20_000,
      'convergence on the latest write',
    );
    for (const d of devices) await d.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => (await serverDocs(user)).every((r) => !r.doc._conflicts?.length), 20_000, 'no server conflicts');
    for (const d of devices) expect(await d.store.keys('own-')).toEqual(['own-0', 'own-1', 'own-2']);
    expect(conflicts.length).toBeGreaterThan(0);
  }, 60_000);

  it('survives a secret rotation mid-sync (401 → new token → sync goes on)', async () => {
    const user = uniqueUser();
    let tokenRequests = 0;
    const counting: typeof fetch = (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (url.includes('/couchdb/token/')) tokenRequests++;
      return fetch(input, init);
    };
    const a = device(user, { fetch: counting });
    const b = device(user);
    await Promise.all([a.ready(), b.ready()]);
    emu.rotateSecret();
    await a.store.set('after-rotation', 1);
    await a.sync.waitForPush({ timeout: 20_000 });
    await waitFor(async () => (await b.store.get('after-rotation')) === 1, 20_000, 'b to receive after rotation');
    expect(tokenRequests).toBeGreaterThanOrEqual(2);
    expect(tokenRequests).toBeLessThanOrEqual(4);
    expect(['idle', 'active']).toContain(a.sync.status);
  }, 60_000);

  it('pause() stops pushing until resume()', async () => {
    const user = uniqueUser();
    const a = device(user);
    const b = device(user);
    await Promise.all([a.ready(), b.ready()]);
    a.sync.pause();
    expect(a.sync.status).toBe('paused');
    await a.store.set('held', 1);
    expect(await a.sync.pending()).toBe(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(await b.store.get('held')).toBeUndefined();
    a.sync.resume();
    await a.sync.waitForPush({ timeout: 10_000 });
    await waitFor(async () => (await b.store.get('held')) === 1, 15_000, 'b to receive after resume');
  }, 30_000);

  it('a new device waits in ready() for its first pull, so first reads see the data', async () => {
    const user = uniqueUser();
    const a = device(user);
    const parts: Record<string, number> = {};
    for (let i = 0; i < 300; i++) parts[`p${i}`] = i;
    await a.store.setParts('many', parts);
    await a.sync.waitForPush({ timeout: 20_000 });
    const fresh = device(user);
    await fresh.ready();
    expect(Object.keys(await fresh.store.getParts('many'))).toHaveLength(300);
  }, 30_000);

  it('background failures surface as error events with a code (a document that cannot pass the proxy)', async () => {
    const user = uniqueUser();
    // The client believes there is no body limit, so it stores a 1.5 MB value inline; the proxy refuses it.
    const a = device(user, { maxRequestBytes: 0 });
    const errors: FeatError[] = [];
    a.sync.on('error', (e) => errors.push(e));
    await a.ready();
    await a.store.set('too-big-for-the-proxy', 'x'.repeat(1_500_000));
    await waitFor(() => errors.some((e) => e.code === 'too_large'), 20_000, 'a too_large error event');
    expect(errors.find((e) => e.code === 'too_large')?.message).toMatch(/request body|too large|does not fit/i);
  }, 30_000);

  it('logout({ destroyLocal: true }) leaves no user data on the device (leveldb replica)', async () => {
    const user = uniqueUser();
    const dir = mkdtempSync(join(tmpdir(), 'feat-logout-'));
    try {
      const name = join(dir, 'replica');
      const a = device(user, { local: { adapter: 'leveldb', name } });
      await a.store.set('secret-draft', 'private words');
      await a.sync.waitForPush({ timeout: 10_000 });
      expect(existsSync(name)).toBe(true);
      await a.logout({ destroyLocal: true });
      await a.logout({ destroyLocal: true });
      expect(existsSync(name) ? readdirSync(name) : []).toEqual([]);
      await expect(a.store.get('secret-draft')).rejects.toMatchObject({ code: 'closed' });
      // A persistent replica survives a plain close and is reused.
      const b = device(user, { local: { adapter: 'leveldb', name: join(dir, 'kept') } });
      await b.store.set('kept', 1);
      await b.close();
      emu.resetRequests();
      const c = device(user, { local: { adapter: 'leveldb', name: join(dir, 'kept') } });
      await c.ready();
      expect(await c.store.get('kept')).toBe(1);
      await c.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('an app started offline opens the replica it used before, works, and syncs once the server is back', async () => {
    const user = uniqueUser();
    const dir = mkdtempSync(join(tmpdir(), 'feat-offline-start-'));
    try {
      const name = join(dir, 'replica');
      const first = device(user, { local: { adapter: 'leveldb', name } });
      await first.store.set('draft', 'v1');
      await first.sync.waitForPush({ timeout: 10_000 });
      await first.close();
      await emu.suspend();
      let reopened: FeatClient;
      try {
        reopened = device(user, { local: { adapter: 'leveldb', name } });
        const session = await reopened.ready();
        expect(session.userName).toBe(user);
        await waitFor(() => reopened.sync.status === 'offline', 10_000, 'offline status');
        expect(await reopened.store.get('draft')).toBe('v1');
        await reopened.store.set('draft', 'v2 written offline');
        expect(await reopened.sync.pending()).toBe(1);
      } finally {
        await emu.resume();
      }
      await reopened.sync.waitForPush({ timeout: 30_000 });
      await reopened.close();
      const other = device(user);
      await other.ready();
      expect(await other.store.get('draft')).toBe('v2 written offline');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a new device started offline fails ready() with network, and a later ready() succeeds', async () => {
    const user = uniqueUser();
    const c = device(user);
    await emu.suspend();
    try {
      await expect(c.ready()).rejects.toMatchObject({ code: 'network' });
      expect(c.sync.status).toBe('offline');
    } finally {
      await emu.resume();
    }
    await expect(c.ready()).resolves.toMatchObject({ userName: user });
  }, 30_000);

  it('pending() drops back to 0 by itself once the push is confirmed (no waitForPush needed)', async () => {
    const user = uniqueUser();
    const a = device(user);
    await a.ready();
    await a.store.set('counted', 1);
    expect(await a.sync.pending()).toBeGreaterThanOrEqual(0);
    await waitFor(async () => (await a.sync.pending()) === 0, 10_000, 'pending to reach 0');
  }, 20_000);

  it('offline start never opens another account\'s replica, and logout() forgets the session', async () => {
    const alice = uniqueUser();
    const bob = uniqueUser();
    const dir = mkdtempSync(join(tmpdir(), 'feat-offline-identity-'));
    try {
      const name = join(dir, 'replica');
      const a = device(alice, { local: { adapter: 'leveldb', name } });
      await a.store.set('private', 'alice only');
      await a.sync.waitForPush({ timeout: 10_000 });
      await a.close();
      await emu.suspend();
      try {
        // Bob's credentials, the same replica path, no network: Alice's session is not his.
        const b = device(bob, { local: { adapter: 'leveldb', name } });
        await expect(b.ready()).rejects.toMatchObject({ code: 'network' });
        await b.close();
        // Alice herself starts offline from it…
        const again = device(alice, { local: { adapter: 'leveldb', name } });
        await expect(again.ready()).resolves.toMatchObject({ userName: alice });
        expect(await again.store.get('private')).toBe('alice only');
        // …until she logs out: then the session is forgotten.
        await again.logout();
        const after = device(alice, { local: { adapter: 'leveldb', name } });
        await expect(after.ready()).rejects.toMatchObject({ code: 'network' });
        await after.close();
      } finally {
        await emu.resume();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
