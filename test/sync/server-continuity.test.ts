/**
 * A server database that lost what a replica had exchanged with it (src/sync/continuity.ts): deleted and made again
 * empty, or restored from an older backup. The replica's checkpoints are on the device only; live sync must notice
 * and start over, so that everything the device has goes back and what the server gets afterwards comes down.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { startEmulator, type Emulator } from '@feat/emulator';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { emulatorOnly, ON_REAL } from '../support/target.js';

const COUCH = process.env.COUCH_URL ?? 'http://127.0.0.1:5984';
const emu = useEmulator();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function clientOf(on: Emulator, user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  const c = createFeatClient({ couchUrl: on.couchUrl, accountsUrl: on.accountsUrl, auth: on.bearerFor(user), local: { adapter: 'memory' }, requestTimeout: 2_000, ...extra });
  cleanups.push(() => c.close().catch(() => undefined));
  return c;
}

/** The server's values of `user`, read as another device would (remote mode). */
async function serverKeys(on: Emulator, user: string): Promise<string[]> {
  const reader = createFeatClient({ couchUrl: on.couchUrl, accountsUrl: on.accountsUrl, auth: on.bearerFor(user), mode: 'remote' });
  try {
    return await reader.store.keys();
  } finally {
    await reader.close();
  }
}

// The real server's admin deletes and makes the database again; on the emulator the dataDir tests below stand in.
describe.runIf(ON_REAL)('the server database made again under a running local-first client (real CouchDB, as its admin)', () => {
  const admin = async (method: string, p: string, body?: unknown) => {
    const { adminFetch } = (await import('../support/real-emulator.js')) as unknown as { adminFetch(url: string, init?: RequestInit): Promise<Response> };
    const r = await adminFetch(`${COUCH}${p}`, { method, headers: { 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: r.status, json: (await r.json().catch(() => undefined)) as unknown };
  };
  const recreate = async (db: string, user: string) => {
    expect((await admin('DELETE', `/${db}`)).status).toBe(200);
    expect((await admin('PUT', `/${db}`)).status).toBe(201);
    const names = { roles: ['_admin'], names: [user] };
    expect((await admin('PUT', `/${db}/_security`, { members: names, admins: names })).status).toBe(200);
  };
  it('deleted and made again empty: every value the replica has goes back, pending() counts honestly meanwhile', async () => {
    const user = uniqueUser('recreated');
    const a = clientOf(emu, user);
    const { dbName } = await a.ready();
    for (let i = 0; i < 5; i++) await a.store.set(`k${i}`, i);
    await a.sync.waitForPush({ timeout: 15_000 });
    await recreate(dbName, user);
    await waitFor(async () => (await serverKeys(emu, user)).length === 5, 30_000, 'the values back on the server');
    await a.store.set('after', 1);
    await a.sync.waitForPush({ timeout: 20_000 });
    expect(await serverKeys(emu, user)).toEqual(['after', 'k0', 'k1', 'k2', 'k3', 'k4']);
    expect(await a.sync.pending()).toBe(0);
  }, 90_000);

  it('restored from an older backup (its documents written back, with their history, into a database made again): the newer values go back, and another device’s write comes down', async () => {
    const user = uniqueUser('restored');
    const a = clientOf(emu, user);
    const { dbName } = await a.ready();
    for (let i = 0; i < 3; i++) await a.store.set(`old${i}`, i);
    await a.sync.waitForPush({ timeout: 15_000 });
    // The backup: every document with its revision history, as replication would copy it.
    const rows = ((await admin('GET', `/${dbName}/_all_docs?include_docs=true`)).json as { rows: { id: string }[] }).rows;
    const backup: unknown[] = [];
    for (const { id } of rows) backup.push((await admin('GET', `/${dbName}/${encodeURIComponent(id)}?revs=true`)).json);
    for (let i = 0; i < 3; i++) await a.store.set(`new${i}`, i);
    await a.sync.waitForPush({ timeout: 15_000 });
    await recreate(dbName, user);
    expect((await admin('POST', `/${dbName}/_bulk_docs`, { docs: backup, new_edits: false })).status).toBe(201);
    const b = clientOf(emu, user, { mode: 'remote' });
    await b.store.set('fromB', 'b');
    await waitFor(async () => (await serverKeys(emu, user)).length === 7, 30_000, 'the newer values back on the server');
    await waitFor(async () => (await a.store.get('fromB')) === 'b', 20_000, 'the other device’s write on this one');
    expect(await serverKeys(emu, user)).toEqual(['fromB', 'new0', 'new1', 'new2', 'old0', 'old1', 'old2']);
  }, 90_000);
});

describe('the server restored from an older copy of its data (emulator dataDir)', () => {
  async function restored(keep: (dir: string) => Promise<void>) {
    const dir = mkdtempSync(path.join(tmpdir(), 'feat-continuity-'));
    const backup = mkdtempSync(path.join(tmpdir(), 'feat-continuity-backup-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => rmSync(backup, { recursive: true, force: true }));
    const secret = 'c'.repeat(32);
    let server = await startEmulator({ port: 0, dataDir: dir, secret });
    const ports = server.ports;
    cleanups.push(() => server.stop());
    const restart = async (from?: string) => {
      await server.stop();
      if (from) {
        rmSync(dir, { recursive: true, force: true });
        cpSync(from, dir, { recursive: true });
      }
      await keep(dir);
      server = await startEmulator({ port: ports.couch, accountsPort: ports.accounts, apiPort: ports.api, dataDir: dir, secret });
      return server;
    };
    const snapshot = () => cpSync(dir, backup, { recursive: true });
    return { server: () => server, restart, snapshot, backup };
  }

  emulatorOnly('dataDir')('a running client ahead of the restored server: the values the server lost go back (a failure makes it check at once)', async () => {
    const env = await restored(() => sleep(2_500));
    const user = uniqueUser('behind');
    const a = clientOf(env.server(), user);
    await a.ready();
    for (let i = 0; i < 3; i++) await a.store.set(`old${i}`, i);
    await a.sync.waitForPush({ timeout: 10_000 });
    await env.restart();
    env.snapshot();
    for (let i = 0; i < 3; i++) await a.store.set(`new${i}`, i);
    await a.sync.waitForPush({ timeout: 15_000 });
    // The restore: the server is down longer than requestTimeout (2 s), so live sync fails and then checks.
    const server = await env.restart(env.backup);
    await waitFor(async () => (await serverKeys(server, user)).length === 6, 30_000, 'the lost values back on the server');
    expect(await serverKeys(server, user)).toEqual(['new0', 'new1', 'new2', 'old0', 'old1', 'old2']);
    await waitFor(async () => (await a.sync.pending()) === 0, 10_000, 'pending() to count 0');
  }, 90_000);

  emulatorOnly('dataDir')('a replica opened after the restore (the app started again): the values the server lost go back', async () => {
    const env = await restored(async () => undefined);
    const user = uniqueUser('reopened');
    const dir = mkdtempSync(path.join(tmpdir(), 'feat-continuity-replica-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const local = { adapter: 'leveldb', name: path.join(dir, 'replica') };
    const a = clientOf(env.server(), user, { local });
    await a.ready();
    await a.store.set('old', 1);
    await a.sync.waitForPush({ timeout: 10_000 });
    env.snapshot();
    await a.store.set('new', 2);
    await a.sync.waitForPush({ timeout: 10_000 });
    await a.close();
    const server = await env.restart(env.backup);
    expect(await serverKeys(server, user)).toEqual(['old']);
    const again = clientOf(server, user, { local });
    await again.ready();
    await waitFor(async () => (await serverKeys(server, user)).length === 2, 20_000, 'the lost value back on the server');
    await waitFor(async () => (await again.sync.pending()) === 0, 10_000, 'pending() to count 0');
  }, 90_000);
});
