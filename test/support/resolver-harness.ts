/**
 * Shared by the tests of an `onConflict` resolver that never settles (test/store/resolver-*.test.ts): remote-mode
 * clients with such a resolver, a raw view of the user's database, and how a promise ended within a time.
 */
import { afterAll, expect } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { sleep, type useEmulator } from './backend.js';

type Emulator = ReturnType<typeof useEmulator>;

/** Fails the file if any promise rejected unhandled while it ran. */
export function noUnhandledRejections(): void {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });
}

/**
 * A resolver that never settles: each client its own (one that did not settle is not asked again for 10 s, so a shared
 * one would make concurrent cases fail each other's conflicts at once).
 */
export const never = () => () => new Promise<never>(() => undefined);

/** A remote-mode client of `user` whose resolver never settles (unless `extra` says otherwise), and its `error` events. */
export function resolverClient(emu: Emulator, user: string, extra: Partial<FeatClientOptions> = {}): { c: FeatClient; errors: FeatError[] } {
  const c = emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', onConflict: never(), ...extra } as FeatClientOptions),
  );
  const errors: FeatError[] = [];
  c.sync.on('error', (e) => errors.push(e));
  return { c, errors };
}

/** The user's database as another writer sees it (raw HTTP with the user's proxy headers). */
export async function rawDatabase(emu: Pick<Emulator, 'accountsUrl' | 'couchUrl' | 'bearerFor'>, user: string) {
  const token = await fetch(`${emu.accountsUrl.replace(/\/+$/, '')}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } });
  const { data } = (await token.json()) as { data: { headers: Record<string, string>; dbname: string } };
  const url = `${emu.couchUrl.replace(/\/+$/, '')}/${data.dbname}`;
  const headers = { ...data.headers, 'Content-Type': 'application/json', Accept: 'application/json' };
  return {
    /** The database's URL and the user's headers (JSON). */
    url,
    headers,
    /**
     * `n` conflicting first-generation leaves of `id` another writer left (`new_edits: false`, 300 per request): leaf
     * `i` holds `{ i }`, stamped `since + i` (the last one latest).
     */
    async branches(id: string, n: number, since: number) {
      const hex = (i: number) => i.toString(16).padStart(32, '0');
      for (let start = 0; start < n; start += 300) {
        const docs = Array.from({ length: Math.min(300, n - start) }, (_, j) => ({ _id: id, _rev: `1-${hex(start + j + 1)}`, doc: { i: start + j }, feat: { updatedAt: since + start + j } }));
        const r = await fetch(`${url}/_bulk_docs`, { method: 'POST', headers, body: JSON.stringify({ docs, new_edits: false }) });
        expect(r.status).toBe(201);
      }
    },
    /** A `_bulk_docs` body (text, or an object sent as JSON) written as another app would: 201 expected. */
    async bulk(body: string | object) {
      const r = await fetch(`${url}/_bulk_docs`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
      expect(r.status).toBe(201);
    },
    /** Two conflicting live leaves of `id`; CouchDB's winner (the higher revision) holds `{ kind: 'older' }`. */
    async leaves(id: string) {
      const now = Date.now();
      const docs = [
        { _id: id, _rev: `1-${'a'.repeat(32)}`, doc: { kind: 'newer' }, feat: { updatedAt: now } },
        { _id: id, _rev: `1-${'f'.repeat(32)}`, doc: { kind: 'older' }, feat: { updatedAt: now - 60_000 } },
      ];
      const r = await fetch(`${url}/_bulk_docs`, { method: 'POST', headers, body: JSON.stringify({ docs, new_edits: false }) });
      expect(r.status).toBe(201);
    },
    /** Another writer's version of `id`. */
    async put(id: string, value: unknown) {
      const r = await fetch(`${url}/${encodeURIComponent(id)}`, { method: 'PUT', headers, body: JSON.stringify({ doc: value, feat: { updatedAt: Date.now() } }) });
      expect(r.status).toBe(201);
    },
    async doc(id: string) {
      const r = await fetch(`${url}/${encodeURIComponent(id)}?conflicts=true`, { headers });
      return (await r.json()) as { doc?: unknown; _conflicts?: string[] };
    },
  };
}

/** How a promise ended within `ms` ('pending' if it did not, `rejected:<code>` for a failure), and the time it took. */
export async function outcome(p: Promise<unknown>, ms: number): Promise<{ how: string; value?: unknown; ms: number }> {
  const t0 = Date.now();
  const how = await Promise.race([
    p.then(
      (value) => ({ how: 'resolved', value }),
      (e: unknown) => ({ how: `rejected:${isFeatError(e) ? e.code : String(e)}`, value: e }),
    ),
    sleep(ms).then(() => ({ how: 'pending' })),
  ]);
  return { ...how, ms: Date.now() - t0 };
}
