/**
 * Lifecycle edges found in review: listeners that throw, calls after close, a never-opened replica wiped by logout,
 * a memory replica closed right after a write, credential providers that fail.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createFeatClient, type FeatClientOptions, type SyncStatus } from '@feat/sdk';
import { expectCode, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const options = (user: string, extra: Partial<FeatClientOptions> = {}): FeatClientOptions => ({
  couchUrl: emu.couchUrl,
  accountsUrl: emu.accountsUrl,
  apiUrl: emu.apiUrl,
  auth: emu.bearerFor(user),
  local: { adapter: 'memory' },
  ...extra,
});

describe('client lifecycle', () => {
  it('a throwing error listener never loops: ready() and close() still work', async () => {
    const c = createFeatClient(options(uniqueUser('throwing')));
    let calls = 0;
    c.sync.on('error', () => {
      calls++;
      throw new Error('listener bug');
    });
    c.sync.on('status', () => {
      throw new Error('listener bug');
    });
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      await expect(c.ready()).resolves.toBeTruthy();
      await c.close();
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(calls).toBeLessThan(10);
  });

  it.each(['remote', 'local-first'] as const)('calls after close() reject with closed (%s)', async (mode) => {
    const c = createFeatClient(options(uniqueUser('after-close'), { mode }));
    await c.ready();
    await c.close();
    await expectCode(c.sync.pending(), 'closed');
    await expectCode(c.store.flush(), 'closed');
    await expectCode(c.exportData(), 'closed');
    await expectCode(c.api!.activity.commentCount({ target_type: 400 }), 'closed');
    await expectCode(c.store.keys(), 'closed');
    await expectCode(c.storage(), 'closed');
  });

  it('close() right after a write on a memory replica pushes it before freeing the replica', async () => {
    const user = uniqueUser('close-push');
    const a = createFeatClient(options(user));
    await a.ready();
    await a.store.set('last-words', 'kept');
    await a.close();
    const b = createFeatClient(options(user, { mode: 'remote' }));
    expect(await b.store.get('last-words')).toBe('kept');
    await b.close();
  });

  it('logout() right after unawaited writes while keys are watched (as hooks do): nothing logged about its own close', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      for (const adapter of ['memory', 'leveldb'] as const) {
        const dir = adapter === 'leveldb' ? mkdtempSync(join(tmpdir(), 'feat-lw-')) : undefined;
        const c = createFeatClient(options(uniqueUser('logout-watch'), { local: dir ? { adapter, name: join(dir, 'db') } : { adapter } }));
        await c.ready();
        const offs = [c.store.watch('note', () => undefined), c.store.watch({ prefix: 'draft' }, () => undefined)];
        await c.store.set('note', 'first');
        const last = [c.store.set('note', 'last'), c.store.setParts('draft', { body: 'last' })].map((p) => p.then(() => 'ok', (e: { code?: string }) => e.code));
        // The hooks are still mounted when the app signs out.
        await c.logout();
        offs.forEach((off) => off());
        expect(await Promise.all(last)).toEqual(['ok', 'ok']);
        await new Promise((r) => setTimeout(r, 300));
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
      expect(warn.mock.calls.map((a) => a.map(String).join(' ')).filter((w) => /closed/.test(w))).toEqual([]);
    } finally {
      warn.mockRestore();
    }
  });

  it('a bad bearer makes a local-first status denied, consistent with its event', async () => {
    const c = createFeatClient(options('nobody', { auth: 'Bearer forged' }));
    const seen: SyncStatus[] = [];
    c.sync.on('status', (s) => seen.push(s));
    await expectCode(c.ready(), 'unauthorized');
    expect(c.sync.status).toBe('denied');
    expect(seen.at(-1)).toBe('denied');
    await c.close();
  });

  it('an auth provider that throws → unauthorized, with its error as cause', async () => {
    const c = createFeatClient(
      options('nobody', {
        auth: () => {
          throw new Error('token store locked');
        },
      }),
    );
    const error = await expectCode(c.ready(), 'unauthorized');
    expect((error.cause as Error).message).toBe('token store locked');
    await c.close();
  });

  it('logout({ destroyLocal: true }) wipes the replica even if this client never opened it', async () => {
    const user = uniqueUser('wipe');
    const dir = mkdtempSync(join(tmpdir(), 'feat-wipe-'));
    try {
      const name = join(dir, 'replica');
      const a = createFeatClient(options(user, { local: { adapter: 'leveldb', name } }));
      await a.store.set('secret', 'private');
      await a.sync.waitForPush({ timeout: 10_000 });
      await a.close();
      expect(existsSync(name)).toBe(true);
      const b = createFeatClient(options(user, { local: { adapter: 'leveldb', name } }));
      await b.logout({ destroyLocal: true });
      await waitFor(() => !existsSync(name) || readdirSync(name).length === 0, 5_000, 'the replica to be gone');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a waitForPush() still waiting when close() or logout() is called rejects with closed (sync paused; leveldb replica)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'feat-wfp-'));
    try {
      for (const end of ['close', 'logout'] as const) {
        const c = createFeatClient(options(uniqueUser(`wfp-${end}`), { local: { adapter: 'leveldb', name: join(dir, end) } }));
        await c.ready();
        c.sync.pause();
        await c.store.set('k', 'v');
        const waiting = c.sync.waitForPush().then(
          () => 'resolved',
          (e: { code?: string }) => `rejected ${e.code}`,
        );
        await new Promise((r) => setTimeout(r, 200));
        await (end === 'close' ? c.close() : c.logout());
        const t0 = Date.now();
        const outcome = await Promise.race([waiting, new Promise((r) => setTimeout(r, 5_000, 'still waiting'))]);
        expect({ end, outcome }).toEqual({ end, outcome: 'rejected closed' });
        expect(Date.now() - t0).toBeLessThan(2_000);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('first pull of a new device', () => {
  it('a first pull cut short by initialSyncTimeout is not taken for a complete one', async () => {
    const user = uniqueUser('first-pull');
    const dir = mkdtempSync(join(tmpdir(), 'feat-first-pull-'));
    try {
      const seed = createFeatClient(options(user, { mode: 'remote' }));
      const parts: Record<string, number> = {};
      for (let i = 0; i < 60; i++) parts[`p${i}`] = i;
      await seed.store.setParts('doc', parts);
      await seed.close();
      const name = join(dir, 'replica');
      const slow: typeof fetch = async (input, init) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        if (/_bulk_get|_changes/.test(url)) await new Promise((r) => setTimeout(r, 400));
        return fetch(input, init);
      };
      const first = createFeatClient(options(user, { local: { adapter: 'leveldb', name }, fetch: slow, initialSyncTimeout: 100 }));
      await first.ready();
      first.sync.pause();
      await first.close();
      // The next start must wait for a complete pull again, so its first reads see everything.
      const second = createFeatClient(options(user, { local: { adapter: 'leveldb', name } }));
      await second.ready();
      expect(Object.keys(await second.store.getParts('doc'))).toHaveLength(60);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('a replica belongs to one account', () => {
  it('an app-chosen local.name opened for another account after logout: forbidden, nothing of the first account read or pushed; the first account reopens it with its unsynced write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'feat-owner-'));
    try {
      for (const adapter of ['leveldb', 'memory'] as const) {
        const name = adapter === 'leveldb' ? join(dir, 'shared') : `feat-shared-${Date.now().toString(36)}`;
        const [userA, userB] = [uniqueUser(`owner-a-${adapter}`), uniqueUser(`owner-b-${adapter}`)];
        const a = createFeatClient(options(userA, { local: { adapter, name } }));
        await a.store.set('a-synced', 'secret of A');
        await a.sync.waitForPush({ timeout: 10_000 });
        a.sync.pause();
        await a.store.set('a-unsynced', 'also A');
        // The memory replica lives as long as the process keeps it: only logout() without destroying it is tested here.
        if (adapter === 'leveldb') await a.logout();
        const b = createFeatClient(options(userB, { local: { adapter, name } }));
        const refused = await expectCode(b.ready(), 'forbidden');
        expect(refused.message).toMatch(/another account/);
        await expectCode(b.store.get('a-synced'), 'forbidden');
        await b.close();
        // B's database got nothing of A's.
        const reader = createFeatClient(options(userB, { mode: 'remote' }));
        expect(await reader.store.keys()).toEqual([]);
        await reader.close();
        if (adapter === 'memory') {
          await a.close();
          continue;
        }
        // A, back on the same replica, still has its unsynced write and pushes it.
        const again = createFeatClient(options(userA, { local: { adapter, name } }));
        expect(await again.store.get('a-unsynced')).toBe('also A');
        await again.sync.waitForPush({ timeout: 10_000 });
        await again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('close() during a new device’s first pull', () => {
  it.each([false, true])('leveldb: close() when the first pull asks its second page (calls made before ready(): %s): ready() and those calls settle (ready() waited forever)', async (withCalls) => {
    const user = uniqueUser('close-first-pull');
    const writer = createFeatClient(options(user, { mode: 'remote' }));
    await Promise.all(Array.from({ length: 300 }, (_, i) => writer.store.set(`x${i}`, { i })));
    await writer.close();
    const dir = mkdtempSync(join(tmpdir(), 'feat-close-pull-'));
    try {
      let closing: Promise<void> | undefined;
      const a = createFeatClient(
        options(user, {
          local: { adapter: 'leveldb', name: join(dir, 'replica') },
          initialSyncTimeout: 30_000,
          fetch: ((input: RequestInfo | URL, init?: RequestInit) => {
            const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
            // The first pull's second page: its first one is being written to the replica.
            if (!closing && url.includes('_changes') && !url.includes('since=0')) closing = a.close();
            return fetch(input, init);
          }) as typeof fetch,
        }),
      );
      const tag = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code ?? 'raw');
      const done: boolean[] = [];
      a.sync.on('initialSync', (e) => e.phase === 'done' && done.push(e.complete));
      const t0 = Date.now();
      const ready = tag(a.ready());
      const calls = withCalls ? [tag(a.store.set('k', 1)), tag(a.store.get('x1'))] : [];
      const outcome = (await Promise.race([ready, new Promise((r) => setTimeout(r, 15_000, 'still waiting'))])) as string;
      expect(['closed', 'resolved']).toContain(outcome);
      expect(Date.now() - t0).toBeLessThan(10_000);
      for (const call of calls) expect(await Promise.race([call, new Promise((r) => setTimeout(r, 2_000, 'still waiting'))])).not.toBe('still waiting');
      await closing;
      // Cut short by close() (ready() says closed): never taken for a complete first pull (the next start waits for
      // one again). With calls made first, close() lets them finish, and the first pull may complete meanwhile.
      if (outcome === 'closed') expect(done).not.toContain(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
