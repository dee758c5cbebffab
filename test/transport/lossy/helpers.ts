/** Shared scaffolding for the remote-mode lossy-link attack: a remote client through a fault proxy, raw server reads. */
/* eslint-disable @typescript-eslint/no-explicit-any -- raw CouchDB documents of any shape */
import type { TestContext } from 'vitest';
import { createFeatClient, type ConflictEvent, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import type { useEmulator } from '../../support/backend.js';
import type { FaultProxy } from '../../support/fault-proxy.js';

export type Emu = ReturnType<typeof useEmulator>;

export interface Probe {
  client: FeatClient;
  conflicts: ConflictEvent[];
  resolverCalls: Array<{ key: string; local: unknown; remote: unknown }>;
  errors: Array<{ code: string; key?: string | undefined; message: string }>;
}

/** A remote-mode client whose CouchDB traffic goes through `proxy` (accounts direct); closed after the test. */
export function remoteVia(
  test: TestContext,
  emu: Emu,
  proxy: FaultProxy | undefined,
  user: string,
  extra: Partial<FeatClientOptions> & { resolver?: (c: { key: string; local: { value: unknown }; remote: { value: unknown } }) => unknown } = {},
): Probe {
  const resolverCalls: Probe['resolverCalls'] = [];
  const { resolver, ...rest } = extra;
  const client = createFeatClient({
    couchUrl: proxy ? proxy.url : emu.couchUrl,
    accountsUrl: emu.accountsUrl,
    auth: emu.bearerFor(user),
    mode: 'remote',
    requestTimeout: 2_000,
    maintenance: { enabled: false },
    onConflict: (c: { key: string; local: { value: unknown; updatedAt: number; rev: string }; remote: { value: unknown; updatedAt: number; rev: string } }) => {
      resolverCalls.push({ key: c.key, local: c.local.value, remote: c.remote.value });
      if (resolver) return resolver(c) as never;
      return (c.local.updatedAt > c.remote.updatedAt ? c.local.value : c.remote.value) as never;
    },
    ...rest,
  } as FeatClientOptions);
  const conflicts: ConflictEvent[] = [];
  const errors: Probe['errors'] = [];
  client.sync.on('conflict', (e) => conflicts.push(e));
  client.sync.on('error', (e) => errors.push({ code: e.code, key: (e as { key?: string }).key, message: e.message }));
  test.onTestFinished(() => client.close().catch(() => undefined));
  return { client, conflicts, resolverCalls, errors };
}

/** Raw access to `user`'s database on the server (headers taken from the accounts service through an SDK client). */
export async function rawDb(emu: Emu, user: string): Promise<{ get(id: string, q?: string): Promise<any>; all(): Promise<any[]> }> {
  let headers: Headers | undefined;
  const spy: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(emu.couchUrl)) headers = new Headers(init?.headers);
    return fetch(input, init);
  };
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', fetch: spy, maintenance: { enabled: false } });
  const { dbName } = await c.ready();
  await c.store.get('zz-probe');
  await c.close();
  const h = headers!;
  h.delete('content-type');
  const base = `${emu.couchUrl}/${encodeURIComponent(dbName)}`;
  return {
    async get(id, q = 'conflicts=true&deleted_conflicts=true&revs_info=true') {
      const r = await fetch(`${base}/${encodeURIComponent(id)}?${q}`, { headers: h });
      return r.status === 404 ? undefined : r.json();
    },
    async all() {
      const r = await fetch(`${base}/_all_docs?include_docs=true&conflicts=true`, { headers: h });
      const j = (await r.json()) as { rows: Array<{ id: string; doc: any }> };
      return j.rows.map((row) => row.doc);
    },
  };
}

export const isWrite = (r: { method: string; path: string }) =>
  (r.method === 'POST' && r.path.endsWith('/_bulk_docs')) || (r.method === 'PUT' && !r.path.includes('/_users/') && !r.path.includes('/_local/')) || r.method === 'DELETE';

export async function settle(p: Promise<unknown>): Promise<{ ok: true } | { ok: false; code: string; message: string }> {
  try {
    await p;
    return { ok: true };
  } catch (e) {
    return { ok: false, code: (e as { code?: string }).code ?? String(e), message: (e as Error).message };
  }
}
