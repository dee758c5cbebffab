/**
 * The published types against what the SDK does at runtime (emulator). Each test names the declaration it
 * checks. exactOptionalPropertyTypes apps: an optional field typed `subkey?: string` must be absent, not `undefined`;
 * optional options typed `?: X | undefined` must accept an explicit `undefined`.
 */
import { describe, expect, it } from 'vitest';
import type { FeatError} from '@feat/sdk';
import { createFeatClient, FeatConflictError, FeatValidationError, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { createFeatApi } from '@feat/sdk/api';
import { createPersistStorage } from '@feat/sdk/redux';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const modes = [
  ['remote', { mode: 'remote' }],
  ['local-first', { local: { adapter: 'memory' } }],
] as const;

describe.each(modes)('%s', (_, mode) => {
  const client = (user = uniqueUser('types'), extra: Partial<FeatClientOptions> = {}): FeatClient =>
    emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...mode, ...extra } as FeatClientOptions));

  it('optional options given as explicit undefined are accepted (types: `?: X | undefined`)', async () => {
    const c = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('u')), ...mode,
      apiUrl: undefined, onConflict: undefined, fetch: undefined, requestTimeout: undefined, maintenance: { enabled: undefined, intervalMs: undefined }, indexes: undefined }));
    await c.ready({ signal: undefined });
    await c.store.set('k', 1, { ttl: undefined, signal: undefined });
    expect(await c.store.get('k', { signal: undefined })).toBe(1);
    await c.store.setParts('p', { a: 1 }, { replace: undefined, signal: undefined });
    expect(await c.store.getParts('p', { signal: undefined })).toEqual({ a: 1 });
    expect(await c.store.keys(undefined, { signal: undefined })).toContain('k');
    expect(await c.store.getItem('k', { signal: undefined })).toBe('1');
    expect(await c.store.find({ prefix: 'p', selector: undefined, sort: undefined, limit: undefined, skip: undefined }, { signal: undefined, onWarning: undefined })).toHaveLength(1);
    await c.store.flush({ signal: undefined });
    await c.store.remove('k', { signal: undefined });
    await c.store.removeParts('p', { signal: undefined });
    await c.sync.waitForPush({ timeout: undefined, signal: undefined });
    expect(typeof (await c.exportData({ format: undefined, signal: undefined, onProgress: undefined }))).toBe('string');
    await c.maintenance.run({ signal: undefined, chunkGraceMs: undefined });
    const stop = c.store.watch('k', () => {}, { initial: undefined, current: undefined, onError: undefined });
    stop();
    const stop2 = c.store.watchQuery({}, () => {}, { onError: undefined, onWarning: undefined });
    stop2();
    const storage = createPersistStorage(c.store, { timeout: undefined });
    expect(await storage.getItem('persist:x')).toBeNull();
    await c.logout({ destroyLocal: undefined });
  });

  it('QueryResult / ChangeEvent: `subkey?: string` is absent (not undefined) for a plain key', async () => {
    const c = client();
    await c.ready();
    const events: object[] = [];
    const stop = c.store.watch({ prefix: 'q' }, (e) => events.push(e));
    await c.store.set('q1', { n: 1 });
    const found = await c.store.find({ prefix: 'q' });
    expect(found).toHaveLength(1);
    expect(Object.keys(found[0]!)).not.toContain('subkey');
    await expect.poll(() => events.length).toBeGreaterThan(0);
    stop();
    expect(Object.keys(events[0]!)).not.toContain('subkey');
    // ChangeEvent.current?: true — absent on an ordinary change
    expect(Object.keys(events[0]!)).not.toContain('current');
  });

  it('ready() resolves a Session { userName, dbName }; remove() resolves undefined; api is undefined without apiUrl', async () => {
    const c = client();
    const session = await c.ready();
    expect(Object.keys(session).sort()).toEqual(['dbName', 'userName']);
    expect(await c.store.remove('none')).toBeUndefined();
    expect(c.api).toBeUndefined();
    expect(['idle', 'connecting', 'active', 'paused', 'offline', 'error', 'denied']).toContain(c.sync.status);
  });

  it('storage(): StorageInfo fields typed `usage?: number` are absent or numbers/booleans, never undefined', async () => {
    const c = client();
    await c.ready();
    const info = await c.storage();
    for (const [k, v] of Object.entries(info)) expect([k, typeof v]).not.toEqual([k, 'undefined']);
  });

  it('MaintenanceReport: `error?: FeatError` absent on a good run; fields as typed', async () => {
    const c = client();
    await c.ready();
    const report = await c.maintenance.run();
    expect(typeof report.startedAt).toBe('number');
    expect(typeof report.durationMs).toBe('number');
    expect(typeof report.purged).toBe('number');
    expect(typeof report.chunksDeleted).toBe('number');
    expect(typeof report.compacted).toBe('boolean');
    expect(Object.keys(report)).not.toContain('error');
  });

  it("exportData({ format: 'lines' }) is an AsyncIterable<string>", async () => {
    const c = client();
    await c.store.set('e', 1);
    const lines = await c.exportData({ format: 'lines' });
    expect(typeof lines[Symbol.asyncIterator]).toBe('function');
    const all: string[] = [];
    for await (const line of lines) all.push(line);
    expect(typeof all[0]).toBe('string');
  });

  it('errors: codes within FeatErrorCode, subclasses as documented (FeatValidationError: nothing was sent; FeatConflictError)', async () => {
    const c = client(undefined, { onConflict: () => { throw new Error('no'); } });
    await c.ready();
    const bad = await c.store.set('_bad', 1).catch((e: unknown) => e);
    expect(isFeatError(bad, 'invalid_key')).toBe(true);
    expect(bad).toBeInstanceOf(FeatValidationError);
    const badValue = await c.store.set('k', new Date() as never).catch((e: unknown) => e);
    expect(isFeatError(badValue, 'invalid_value')).toBe(true);
    expect(badValue).toBeInstanceOf(FeatValidationError);
    // a write conflict the resolver refuses → conflict
    const other = client(undefined, {});
    void other;
    const thrown = (() => { try { createFeatClient({ couchUrl: 'nope' }); } catch (e) { return e; } })();
    expect(thrown).toBeInstanceOf(FeatValidationError);
    expect((thrown as FeatError).code).toBe('invalid_argument');
  });

  it('watch({ key, prefix }) — compiles (WatchTarget union); runtime refuses it with a FeatError', async () => {
    const c = client();
    await c.ready();
    let thrown: unknown;
    try { const stop = c.store.watch({ key: 'a', prefix: 'b' } as { key: string }, () => {}); stop(); } catch (e) { thrown = e; }
    expect(isFeatError(thrown, 'invalid_argument')).toBe(true);
  });
});

describe('write conflict through a throwing resolver', () => {
  it('rejects with code conflict, an instance of FeatConflictError', async () => {
    const user = uniqueUser('types-conflict');
    const a = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' }));
    const b = emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', onConflict: () => { throw new Error('refuse'); } }));
    await a.store.set('k', 1);
    const e = await b.store.set('k', 2).catch((err: unknown) => err);
    expect(isFeatError(e, 'conflict')).toBe(true);
    expect(e).toBeInstanceOf(FeatConflictError);
  });
});

describe('REST options with explicit undefined (docs/api.md: "Optional options accept an explicit undefined")', () => {
  it('createFeatApi and call options', async () => {
    const api = createFeatApi({ apiUrl: emu.apiUrl, accountsUrl: undefined, auth: emu.bearerFor(uniqueUser('api')), fetch: undefined, timeout: undefined, retry: undefined, signal: undefined });
    const n = await api.activity.commentCount({ target_type: 400, meta: undefined }, { signal: undefined, timeout: undefined });
    expect(typeof n).toBe('number');
    const sub = await api.subscription.fetch({ subscription_type: 'follow_user', followed_user: 1, followed_category: undefined, apply_scene: undefined, entity_type: undefined }, { signal: undefined });
    expect(sub === null || typeof sub === 'object').toBe(true);
  });
});
