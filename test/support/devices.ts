/**
 * Devices of one user (memory, leveldb or remote mode; their conflict and error events kept) and the server as another
 * writer sees it: shared by the tests of how several devices converge (test/sync/long-offline-remove, pulled-winner-pending).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFeatClient, type ConflictEvent, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import type { useEmulator } from './backend.js';
import { rawDatabase } from './resolver-harness.js';

type Emulator = ReturnType<typeof useEmulator>;

export type Device = FeatClient & { conflicts: ConflictEvent[]; errors: FeatError[]; name: string };

export function device(
  emu: Emulator,
  user: string,
  opts: { name: string; couchUrl?: string | undefined; mode?: 'remote' | 'local-first'; adapter?: 'memory' | 'leveldb'; extra?: Partial<FeatClientOptions> },
): Device {
  const mode = opts.mode ?? 'local-first';
  const local =
    mode === 'remote' ? undefined : opts.adapter === 'leveldb' ? { adapter: 'leveldb', name: join(mkdtempSync(join(tmpdir(), 'feat-devices-')), 'db') } : { adapter: 'memory' };
  const c = emu.track(
    createFeatClient({
      couchUrl: opts.couchUrl ?? emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode,
      ...(local ? { local } : {}),
      ...opts.extra,
    } as FeatClientOptions),
  );
  const conflicts: ConflictEvent[] = [];
  const errors: FeatError[] = [];
  c.sync.on('conflict', (e) => conflicts.push(e));
  c.sync.on('error', (e) => errors.push(e));
  return Object.assign(c, { conflicts, errors, name: opts.name });
}

/** The user's database as another writer sees it: a document with its conflicts (and the status), every leaf. */
export async function raw(emu: Emulator, user: string) {
  const { url, headers } = await rawDatabase(emu, user);
  return {
    url,
    headers,
    async doc(id: string): Promise<{ status: number; body: Record<string, unknown> & { doc?: unknown; _conflicts?: string[]; _rev?: string } }> {
      const r = await fetch(`${url}/${encodeURIComponent(id)}?conflicts=true`, { headers });
      return { status: r.status, body: (await r.json()) as never };
    },
    async leaves(id: string): Promise<{ rev: string; deleted: boolean; doc?: unknown }[]> {
      const r = await fetch(`${url}/${encodeURIComponent(id)}?open_revs=all`, { headers });
      const list = (await r.json()) as { ok?: { _rev: string; _deleted?: boolean; doc?: unknown } }[];
      if (!Array.isArray(list)) return [];
      return list.flatMap((l) => (l.ok ? [{ rev: l.ok._rev, deleted: !!l.ok._deleted, doc: l.ok.doc }] : []));
    },
  };
}
