/**
 * An `onConflict` resolver that never settles holds nothing forever (README: Conflicts, Nothing hangs): each call of
 * the resolver is bounded (10 s), and one that has not settled by then counts as one that throws — a write rejects
 * with `conflict` and nothing is written; a replication conflict (or one a remote-mode read finds) stays as it is,
 * the read returns CouchDB's winner and the failure goes to the `error` event. `close()` ends a wait for it.
 * The cases wait the real bound, so they run concurrently (each on its own user and client).
 */
import { describe, expect, it } from 'vitest';
import { type FeatClientOptions, type FeatError } from '@feat/sdk';
import { uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { noUnhandledRejections, outcome, rawDatabase, resolverClient } from '../support/resolver-harness.js';

const emu = useEmulator();
const BOUND_MS = 10_000;
/** Slack on top of the bound (requests, the pull that brings a conflict in). */
const SLACK_MS = 6_000;

noUnhandledRejections();
const client = (user: string, extra: Partial<FeatClientOptions> = {}) => resolverClient(emu, user, extra);
const server = (user: string) => rawDatabase(emu, user);

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
