/**
 * The server goes back in time: a user's database restored from an older backup, or made again empty.
 *
 * Real CouchDB (FEAT_BACKEND=real): as the server admin — the backup is every document (tombstones too) at its winning
 * revision with its history (`?revs=true`, as replication copies it); the restore deletes the database, makes it again
 * with the same `_security`, and writes the backup back (`new_edits: false`).
 * Emulator: its only way back in time is a `dataDir` copied while it is stopped and put back (a file-level backup; the
 * database keeps its `instance_start_time`, as a node restored from its files does).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { startEmulator, type Emulator } from '@feat/emulator';
import { ON_REAL } from './target.js';

const COUCH = process.env.COUCH_URL ?? 'http://127.0.0.1:5984';

export interface Rollback {
  server(): Emulator;
  /** Takes the backup (of `db` on the real server; the whole dataDir on the emulator: a short restart). */
  snapshot(db: string): Promise<void>;
  /** Puts the backup back (the server is behind every device afterwards). */
  restore(db: string, opts?: { downMs?: number }): Promise<void>;
  cleanup(): Promise<void>;
}

async function admin(method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const { adminFetch } = (await import('./real-emulator.js')) as unknown as { adminFetch(url: string, init?: RequestInit): Promise<Response> };
  const r = await adminFetch(`${COUCH}${p}`, { method, headers: { 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: r.status, json: (await r.json().catch(() => undefined)) as unknown };
}

export async function rollback(emu: Emulator): Promise<Rollback> {
  if (ON_REAL) {
    let backup: unknown[] = [];
    return {
      server: () => emu,
      async snapshot(db) {
        const changes = (await admin('GET', `/${db}/_changes?style=main_only`)).json as { results: { id: string; changes: { rev: string }[] }[] };
        backup = [];
        for (const row of changes.results) {
          if (row.id.startsWith('_design/')) continue;
          const got = await admin('GET', `/${db}/${encodeURIComponent(row.id)}?rev=${row.changes[0]!.rev}&revs=true`);
          if (got.status !== 200) throw new Error(`backup of ${row.id}: ${got.status} ${JSON.stringify(got.json)}`);
          backup.push(got.json);
        }
      },
      async restore(db) {
        const security = (await admin('GET', `/${db}/_security`)).json;
        const del = await admin('DELETE', `/${db}`);
        if (del.status !== 200) throw new Error(`delete: ${del.status}`);
        const put = await admin('PUT', `/${db}`);
        if (put.status !== 201) throw new Error(`create: ${put.status} ${JSON.stringify(put.json)}`);
        const sec = await admin('PUT', `/${db}/_security`, security);
        if (sec.status !== 200) throw new Error(`security: ${sec.status}`);
        if (backup.length) {
          const w = await admin('POST', `/${db}/_bulk_docs`, { docs: backup, new_edits: false });
          if (w.status !== 201) throw new Error(`restore: ${w.status} ${JSON.stringify(w.json)}`);
        }
      },
      async cleanup() {},
    };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'feat-rollback-'));
  const backupDir = mkdtempSync(path.join(tmpdir(), 'feat-rollback-backup-'));
  const secret = 'r'.repeat(32);
  let server = await startEmulator({ port: 0, dataDir: dir, secret });
  const ports = server.ports;
  const restart = async (from: string | undefined, downMs: number) => {
    await server.stop();
    if (from) {
      rmSync(dir, { recursive: true, force: true });
      cpSync(from, dir, { recursive: true });
    } else {
      rmSync(backupDir, { recursive: true, force: true });
      cpSync(dir, backupDir, { recursive: true });
    }
    if (downMs) await new Promise((r) => setTimeout(r, downMs));
    server = await startEmulator({ port: ports.couch, accountsPort: ports.accounts, apiPort: ports.api, dataDir: dir, secret });
  };
  return {
    server: () => server,
    snapshot: () => restart(undefined, 0),
    restore: (_db, opts) => restart(backupDir, opts?.downMs ?? 0),
    async cleanup() {
      await server.stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      rmSync(backupDir, { recursive: true, force: true });
    },
  };
}

export function clientOf(on: Emulator, user: string, extra: Partial<FeatClientOptions> = {}, track?: (c: FeatClient) => void): FeatClient {
  const c = createFeatClient({
    couchUrl: on.couchUrl,
    accountsUrl: on.accountsUrl,
    auth: on.bearerFor(user),
    local: { adapter: 'memory' },
    requestTimeout: 3_000,
    ...extra,
  });
  track?.(c);
  return c;
}

/** What the server holds for `user`, read by a brand-new remote-mode device: key → value. */
export async function serverValues(on: Emulator, user: string): Promise<Record<string, unknown>> {
  const reader = createFeatClient({ couchUrl: on.couchUrl, accountsUrl: on.accountsUrl, auth: on.bearerFor(user), mode: 'remote', requestTimeout: 5_000 });
  try {
    const out: Record<string, unknown> = {};
    for (const k of await reader.store.keys()) out[k] = await reader.store.get(k);
    return out;
  } finally {
    await reader.close().catch(() => undefined);
  }
}

export const tmpReplica = (): { local: NonNullable<FeatClientOptions['local']>; cleanup: () => void } => {
  const dir = mkdtempSync(path.join(tmpdir(), 'feat-rollback-replica-'));
  return { local: { adapter: 'leveldb', name: path.join(dir, 'replica') }, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
};
