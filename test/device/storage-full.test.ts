/**
 * A full device (issue #23): `storage_full` for a full quota in every wrapping and for ENOSPC; reads keep working,
 * acknowledged writes still reach the server, the status and the `error` event say so, and writes work again once
 * there is room — without a new client.
 *
 * 1. Fault injection: a PouchDB adapter over `memory` whose writes fail the way each storage layer fails.
 * 2. A real full disk: a `leveldb` replica on a 6 MB tmpfs (needs root to mount it; skipped with a message otherwise).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { createError, IDB_ERROR, UNKNOWN_ERROR } from 'pouchdb-errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type FeatError, type SyncStatus } from '@feat/sdk';
import { expectCode, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

function device(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  return emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, ...extra }),
  );
}

/** Records a client's statuses and errors. */
function observe(client: FeatClient): { statuses: SyncStatus[]; errors: FeatError[] } {
  const seen = { statuses: [] as SyncStatus[], errors: [] as FeatError[] };
  client.sync.on('status', (s) => seen.statuses.push(s));
  client.sync.on('error', (e) => seen.errors.push(e));
  return seen;
}

/** Waits until a fresh device of `user` sees every key in `keys`. */
async function onServer(user: string, keys: string[], timeout = 20_000): Promise<void> {
  const other = device(user);
  await other.ready();
  await waitFor(async () => (await other.store.keys()).filter((k) => keys.includes(k)).length === keys.length, timeout, `${keys.length} keys on the server`);
  await other.close();
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Every wrapping of "no room", injected under a real PouchDB adapter.

type Callback = (error: unknown, result?: unknown) => void;
let fault: (() => unknown) | undefined;
if (!(PouchDB as unknown as { adapters: Record<string, unknown> }).adapters.memory) PouchDB.plugin(MemoryAdapter);
const Memory = (PouchDB as unknown as { adapters: Record<string, (this: unknown, o: unknown, cb: Callback) => void> }).adapters.memory!;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function FullDevice(this: Record<string, (...a: any[]) => unknown>, opts: unknown, callback: Callback) {
  Memory.call(this, opts, callback);
  const bulk = this._bulkDocs!;
  const putLocal = this._putLocal!;
  this._bulkDocs = (req: unknown, o: unknown, cb: Callback) => (fault ? cb(fault()) : bulk.call(this, req, o, cb));
  this._putLocal = (doc: unknown, o: unknown, cb?: Callback) => {
    const done = (typeof o === 'function' ? o : cb) as Callback;
    return fault ? done(fault()) : putLocal.call(this, doc, typeof o === 'function' ? {} : o, done);
  };
}
FullDevice.valid = () => true;
FullDevice.use_prefix = false;
(PouchDB as unknown as { adapter(name: string, a: unknown, preferred: boolean): void }).adapter('full-device', FullDevice, false);

const quota = () => {
  const e = new Error('The quota has been exceeded.');
  e.name = 'QuotaExceededError';
  return e;
};
const WRAPPINGS: Record<string, () => unknown> = {
  'IndexedDB QuotaExceededError': quota,
  "PouchDB idb's indexed_db_went_bad": () => createError(IDB_ERROR, 'QuotaExceededError'),
  "PouchDB's unknown_error wrapping a quota error": () => Object.assign(createError(UNKNOWN_ERROR, 'Database encountered an unknown error'), { error: quota() }),
  'an aborted IndexedDB transaction event': () => ({ type: 'abort', target: { error: quota() } }),
  'LevelDB ENOSPC': () => Object.assign(new Error('IO error: /data/replica/000012.log: No space left on device'), { type: 'WriteError' }),
};

describe('a full device, in every wrapping', () => {
  it.each(Object.entries(WRAPPINGS))('%s → storage_full; reads work, acknowledged writes reach the server, room again → writes work', async (_, make) => {
    const user = uniqueUser('full');
    const name = `full-${user}`;
    const client = device(user, { local: { adapter: 'full-device', name } });
    const seen = observe(client);
    await client.ready();
    // 150 writes acknowledged while sync is paused (more than a replication batch), then the device fills up.
    client.sync.pause();
    const keys = Array.from({ length: 150 }, (_, i) => `k${String(i).padStart(3, '0')}`);
    for (const key of keys) await client.store.set(key, { key });
    fault = make;
    try {
      const error = await expectCode(client.store.set('one-more', 'x'), 'storage_full');
      expect(error.message).toMatch(/out of storage space/);
      expect(error.message).toMatch(/free space/);
      await expectCode(client.store.setItem('another', 'y'), 'storage_full');
      await waitFor(() => seen.errors.some((e) => e.code === 'storage_full'), 5_000, 'a storage_full error event');
      expect(seen.errors.filter((e) => e.code === 'storage_full')).toHaveLength(1);
      expect(await client.storage()).toEqual({ full: true });
      expect(seen.errors.map((e) => e.code)).not.toContain('server');
      expect(seen.errors.map((e) => e.code)).not.toContain('bad_response');
      // Reads keep working.
      expect(await client.store.get('k000')).toEqual({ key: 'k000' });
      expect(await client.store.keys('k')).toHaveLength(150);
      // Sync resumes on the full device: every acknowledged write reaches the server (checkpoints cannot be kept).
      client.sync.resume();
      await waitFor(() => client.sync.status === 'error', 10_000, 'status error while the device is full');
      await onServer(user, keys, 30_000);
      expect(await client.store.get('one-more')).toBeUndefined();
    } finally {
      fault = undefined;
    }
    // Room again: the same client writes, the status recovers.
    await client.store.set('one-more', 'after room');
    expect(await client.storage()).toEqual({});
    await waitFor(() => client.sync.status === 'idle', 10_000, 'status idle once there is room');
    await onServer(user, ['one-more']);
    await client.close();
  }, 90_000);
});

// ---------------------------------------------------------------------------------------------------------------
// 2. A real full disk: LevelDB on a 6 MB tmpfs.

function tryMount(dir: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return String((error as { stderr?: Buffer }).stderr ?? error).trim();
  }
}

const canTry = process.platform === 'linux' && process.getuid?.() === 0;
const skipped = (why: string) => console.warn(`\n!!! ENOSPC test SKIPPED: cannot mount a 6 MB tmpfs (${why}). Run as root on Linux to include it.\n`);
if (!canTry) skipped(process.platform !== 'linux' ? 'not Linux' : 'not root');

describe.skipIf(!canTry)('a full disk under a leveldb replica (6 MB tmpfs)', () => {
  let mountPoint = '';
  let cannot: string | undefined;
  beforeAll(() => {
    mountPoint = mkdtempSync(join(tmpdir(), 'feat-enospc-'));
    cannot = tryMount(mountPoint);
    if (cannot) skipped(cannot);
  });
  afterAll(() => {
    // Lazy: a client a failed test left open is closed after this hook (by the emulator's).
    try {
      if (!cannot) execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
      rmSync(mountPoint, { recursive: true, force: true });
    } catch (error) {
      console.warn(`could not unmount ${mountPoint}: ${String(error)}`);
    }
  });

  const value = (i: number) => text(150_000, i + 1);
  const filler = () => join(mountPoint, 'filler');
  const replica = () => join(mountPoint, 'replica');
  const user = uniqueUser('enospc');
  const acked: string[] = [];

  it('storage_full, reads keep working, acknowledged writes reach the server, writes work again once space is freed', async (ctx) => {
    if (cannot) ctx.skip();
    const name = replica();
    // Something the user can delete later.
    writeFileSync(filler(), 'f'.repeat(1_500_000));
    const client = device(user, { local: { adapter: 'leveldb', name } });
    const seen = observe(client);
    await client.ready();
    const watched: string[] = [];
    client.store.watch('watched', (event) => watched.push(event.key));
    let failure: FeatError | undefined;
    for (let i = 0; i < 60 && !failure; i++) {
      const key = `big${i}`;
      try {
        await client.store.set(key, value(i));
        acked.push(key);
      } catch (error) {
        failure = error as FeatError;
      }
    }
    expect(failure, 'the disk never filled up').toBeDefined();
    expect(failure!.code).toBe('storage_full');
    expect(failure!.message).toMatch(/out of storage space/);
    expect(acked.length).toBeGreaterThan(3);
    await waitFor(() => seen.errors.some((e) => e.code === 'storage_full'), 5_000, 'a storage_full error event');
    expect(seen.errors.map((e) => e.code)).not.toContain('bad_response');
    expect((await client.storage()).full).toBe(true);
    for (const key of acked) expect(await client.store.get(key)).toBe(value(acked.indexOf(key)));
    await onServer(user, acked, 30_000);

    // The user frees space: the same client writes again (the replica is reopened behind the scenes).
    unlinkSync(filler());
    await client.store.set('after', 'room again');
    expect(await client.store.get('after')).toBe('room again');
    expect(await client.store.get(acked[0]!)).toBe(value(0));
    const info = await client.storage();
    expect(info.full).toBeUndefined();
    expect(info.usage).toBeGreaterThan(0);
    expect(info.quota).toBeGreaterThan(info.usage!);
    expect(info.quota).toBeLessThanOrEqual(6 * 1024 * 1024);
    // Watch goes on on the reopened replica.
    let n = 0;
    await waitFor(async () => {
      await client.store.set('watched', n++);
      return watched.includes('watched');
    }, 15_000, 'watch to see a write after the replica was reopened');
    await onServer(user, ['after']);
    await client.sync.waitForPush({ timeout: 10_000 });
    await client.close();
  }, 120_000);

  it('a replica that cannot be opened for lack of space fails ready() with storage_full; ready() again once there is room', async (ctx) => {
    if (cannot || acked.length === 0) ctx.skip();
    const name = replica();
    // Fill the disk to the last byte.
    const fd = join(mountPoint, 'filler-all');
    let size = 4 * 1024 * 1024;
    for (let i = 0; i < 40 && size >= 512; i++) {
      try {
        writeFileSync(`${fd}-${i}`, 'g'.repeat(size));
      } catch {
        rmSync(`${fd}-${i}`, { force: true });
        size = Math.floor(size / 2);
      }
    }
    const client = device(user, { local: { adapter: 'leveldb', name } });
    // LevelDB writes on open (it turns its log into a table): with no room at all, it cannot open.
    const error = await expectCode(client.ready(), 'storage_full');
    expect(error.message).toMatch(/out of storage space/);
    expect(client.sync.status).toBe('error');
    // Once there is room, ready() can be called again and the replica has everything.
    for (let i = 0; i < 40; i++) rmSync(`${fd}-${i}`, { force: true });
    await client.ready();
    expect(await client.store.get(acked[0]!)).toBe(value(0));
    expect(await client.store.get('after')).toBe('room again');
    await client.close();
  }, 60_000);
});
