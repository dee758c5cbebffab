/**
 * An `onConflict` resolver that never settles holds nothing forever (README: Conflicts, Nothing hangs): each call of
 * the resolver is bounded (10 s), and one that has not settled by then counts as one that throws — a write rejects
 * with `conflict` and nothing is written; a replication conflict (or one a remote-mode read finds) stays as it is,
 * the read returns CouchDB's winner and the failure goes to the `error` event. `close()` ends a wait for it.
 * The cases wait the real bound, so they run concurrently (each on its own user and client).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const BOUND_MS = 10_000;
/** Slack on top of the bound (requests, the pull that brings a conflict in). */
const SLACK_MS = 6_000;

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
process.on('unhandledRejection', onUnhandled);
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

/**
 * A resolver that never settles: each client its own (one that did not settle is not asked again for 10 s, so a shared
 * one would make the concurrent cases fail each other's conflicts at once).
 */
const never = () => () => new Promise<never>(() => undefined);

function client(user: string, extra: Partial<FeatClientOptions> = {}): { c: FeatClient; errors: FeatError[] } {
  const c = emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode: 'remote',
      onConflict: never(),
      ...extra,
    } as FeatClientOptions),
  );
  const errors: FeatError[] = [];
  c.sync.on('error', (e) => errors.push(e));
  return { c, errors };
}

async function server(user: string) {
  const token = await fetch(`${emu.accountsUrl.replace(/\/+$/, '')}/couchdb/token/`, { headers: { Authorization: emu.bearerFor(user) } });
  const { data } = (await token.json()) as { data: { headers: Record<string, string>; dbname: string } };
  const url = `${emu.couchUrl.replace(/\/+$/, '')}/${data.dbname}`;
  const headers = { ...data.headers, 'Content-Type': 'application/json', Accept: 'application/json' };
  return {
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
      const r = await fetch(`${url}/${id}`, { method: 'PUT', headers, body: JSON.stringify({ doc: value, feat: { updatedAt: Date.now() } }) });
      expect(r.status).toBe(201);
    },
    async doc(id: string) {
      const r = await fetch(`${url}/${id}?conflicts=true`, { headers });
      return (await r.json()) as { doc?: unknown; _conflicts?: string[] };
    },
  };
}

/** How a promise ended within `ms`: 'pending' if it did not; with the time it took. */
async function outcome(p: Promise<unknown>, ms: number): Promise<{ how: string; value?: unknown; ms: number }> {
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

const lateError = (errors: FeatError[], key: string) =>
  errors.find((e) => e.code === 'conflict' && e.key === key && /did not settle within 10 s/.test(e.message));

describe.concurrent('an onConflict resolver that never settles', () => {
  it('remote get() of a conflicted key: CouchDB winner after the bound, the failure on the error event', async () => {
    const user = uniqueUser('rb-get');
    const { c, errors } = client(user);
    await c.ready();
    const s = await server(user);
    await s.leaves('k');
    const got = await outcome(c.store.get('k'), BOUND_MS + SLACK_MS);
    expect(got.how).toBe('resolved');
    expect(got.value).toEqual({ kind: 'older' });
    expect(got.ms).toBeGreaterThanOrEqual(BOUND_MS - 500);
    expect(lateError(errors, 'k')?.message).toMatch(/onConflict must return/);
    // The leaves stay as they are.
    expect((await s.doc('k'))._conflicts).toHaveLength(1);
  }, 40_000);

  it('remote get() waiting on the resolver: settles once close() resolved', async () => {
    const user = uniqueUser('rb-getc');
    const { c } = client(user);
    await c.ready();
    await (await server(user)).leaves('k');
    const get = c.store.get('k');
    expect((await outcome(get, 1_500)).how).toBe('pending');
    expect((await outcome(c.close(), 3_000)).how).toBe('resolved');
    // Ended by close(): `closed`, at once (not at the bound).
    expect((await outcome(get, 2_000)).how).toBe('rejected:closed');
  }, 30_000);

  it('remote set() meeting a 409: rejects with `conflict` after the bound, nothing written', async () => {
    const user = uniqueUser('rb-set');
    const { c } = client(user);
    await c.ready();
    const s = await server(user);
    await s.put('k', 'other');
    const set = await outcome(c.store.set('k', 'mine'), BOUND_MS + SLACK_MS);
    expect(set.how).toBe('rejected:conflict');
    expect((set.value as Error).message).toMatch(/did not settle within 10 s.*nothing was written/);
    expect(set.ms).toBeGreaterThanOrEqual(BOUND_MS - 500);
    expect((await s.doc('k')).doc).toBe('other');
  }, 40_000);

  it('remote set() meeting a 409: close() settles it (`closed`), before the bound', async () => {
    const user = uniqueUser('rb-setc');
    // close() waits 2 × requestTimeout + 1 s for the writes made before it, then ends what still waits.
    const { c } = client(user, { requestTimeout: 1_500 });
    await c.ready();
    const s = await server(user);
    await s.put('k', 'other');
    const set = c.store.set('k', 'mine');
    expect((await outcome(set, 1_000)).how).toBe('pending');
    const closing = c.close();
    const [written, closed] = await Promise.all([outcome(set, 6_000), outcome(closing, 6_000)]);
    expect(closed.how).toBe('resolved');
    expect(written.how).toBe('rejected:closed');
    expect((await s.doc('k')).doc).toBe('other');
  }, 30_000);

  it('remote watch({ initial }) of a conflicted key: delivers the winner after the bound', async () => {
    const user = uniqueUser('rb-watch');
    const { c, errors } = client(user);
    await c.ready();
    await (await server(user)).leaves('w');
    const events: { key: string; value: unknown; current?: boolean }[] = [];
    const failures: unknown[] = [];
    const stop = c.store.watch('w', (e) => events.push(e), { initial: true, onError: (e) => failures.push(e) });
    try {
      await waitFor(() => events.length > 0, BOUND_MS + SLACK_MS, 'the current value');
      expect(events[0]).toMatchObject({ key: 'w', value: { kind: 'older' }, current: true });
      expect(failures).toEqual([]);
      expect(lateError(errors, 'w')).toBeDefined();
    } finally {
      stop();
    }
  }, 40_000);

  it('local-first replication conflict: reported after the bound, the winner read, close() settles', async () => {
    const user = uniqueUser('rb-lf');
    const { c, errors } = client(user, { mode: 'local-first', local: { adapter: 'memory' } });
    await c.ready();
    await c.store.set('seed', 1);
    await c.sync.waitForPush({ timeout: 10_000 });
    await (await server(user)).leaves('k');
    await waitFor(() => lateError(errors, 'k') !== undefined, BOUND_MS + SLACK_MS, 'the resolver failure');
    expect((await outcome(c.store.get('k'), 3_000)).value).toEqual({ kind: 'older' });
    // A second resolution of the key (its leaves came in two pulls) may be waiting: close() ends it at once.
    expect((await outcome(c.close(), 3_000)).how).toBe('resolved');
  }, 40_000);

  it('local-first: close() and logout() settle while the resolver of a replication conflict waits', async () => {
    const user = uniqueUser('rb-lfc');
    const { c } = client(user, { mode: 'local-first', local: { adapter: 'memory' }, requestTimeout: 1_500 });
    await c.ready();
    await c.store.set('seed', 1);
    await c.sync.waitForPush({ timeout: 10_000 });
    await (await server(user)).leaves('k');
    await waitFor(async () => (await c.store.keys('k')).includes('k'), 5_000, 'the pulled conflict');
    // The resolver's wait is ended by the close logout() makes: not held until the bound.
    expect((await outcome(c.logout(), 6_000)).how).toBe('resolved');
  }, 40_000);

  it('local-first write over a pulled revision it did not see: rejects with `conflict` after the bound', async () => {
    const user = uniqueUser('rb-lfw');
    const { c } = client(user, { mode: 'local-first', local: { adapter: 'memory' } });
    await c.ready();
    // Read as absent before the other device's write arrives: the pulled revision is one the app did not see.
    expect(await c.store.get('k')).toBeUndefined();
    await (await server(user)).put('k', 'other');
    await waitFor(async () => (await c.store.keys('k')).includes('k'), 10_000, 'the pulled revision');
    const set = await outcome(c.store.set('k', 'mine'), BOUND_MS + SLACK_MS);
    expect(set.how).toBe('rejected:conflict');
    expect((set.value as Error).message).toMatch(/did not settle within 10 s.*nothing was written/);
  }, 40_000);
});
