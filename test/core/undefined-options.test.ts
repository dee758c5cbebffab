/**
 * Every optional option taken as absent when it is `undefined`: what an app compiled with exactOptionalPropertyTypes
 * forwards (`{ ttl }` with `ttl: number | undefined`), and what the types now allow (undefined-options.test-d.ts).
 * Each call behaves as without the option: defaults apply, nothing is refused.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { createPersistStorage, flushOnHide, syncPersistedState } from '@feat/sdk/redux';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const absent = undefined;

/** A client given every optional option as undefined (but the ones it needs). */
const client = (mode: 'local-first' | 'remote') =>
  emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(uniqueUser('undef')),
      session: absent,
      apiUrl: absent,
      mode,
      local: { adapter: 'memory', name: absent, identity: absent, persist: absent },
      onConflict: absent,
      fetch: absent,
      maxDocumentBytes: absent,
      maxRequestBytes: absent,
      requestTimeout: absent,
      initialSyncTimeout: absent,
      bootstrapTimeout: absent,
      conflictRetries: absent,
      revCacheSize: absent,
      maintenance: { enabled: false, intervalMs: absent },
      indexes: [{ fields: ['prio'], name: absent }],
    }),
  );

describe.each(['local-first', 'remote'] as const)('optional options given as undefined: %s', (mode) => {
  it('the client, queries, waitForPush, export, import and maintenance take them as absent', async () => {
    const c = client(mode);
    await c.ready({ signal: absent });
    await c.store.set('todo:a', { prio: 2 }, { ttl: absent });
    await c.store.setParts('board', { a: 1 }, { replace: absent });
    const results = await c.store.find({ prefix: 'todo:', selector: absent, sort: absent, limit: absent, skip: absent }, { signal: absent, onWarning: absent });
    expect(results).toEqual([{ key: 'todo:a', value: { prio: 2 } }]);
    const seen: unknown[] = [];
    const stop = c.store.watchQuery({ prefix: 'todo:' }, (r) => seen.push(r), { onError: absent, onWarning: absent });
    await c.sync.waitForPush({ signal: absent, timeout: absent });
    const text = await c.exportData({ format: absent, signal: absent, onProgress: absent });
    expect(text).toContain('todo:a');
    expect(await c.importData(text, { signal: absent, onProgress: absent })).toMatchObject({ imported: expect.any(Number) });
    expect(await c.maintenance.run({ signal: absent, chunkGraceMs: absent })).not.toHaveProperty('error');
    stop();
    expect(await c.store.get('todo:a')).toEqual({ prio: 2 });
  }, 60_000);
});

describe('@feat/sdk/redux options given as undefined', () => {
  it('createPersistStorage, syncPersistedState, flushOnHide', async () => {
    const c = client('remote');
    const storage = createPersistStorage(c.store, { timeout: absent });
    await storage.setItem('persist:root', JSON.stringify({ a: '1' }));
    const stopSync = syncPersistedState({ store: { dispatch: () => undefined }, persistConfig: { key: 'root', storage }, storage: absent, delay: absent, payload: absent, onError: absent });
    const listeners = new Map<string, () => void>();
    const target = { addEventListener: (type: string, l: () => void) => void listeners.set(type, l), removeEventListener: () => undefined, visibilityState: absent };
    const stopHide = flushOnHide(storage, { target, onError: absent });
    expect([...listeners.keys()].sort()).toEqual(['pagehide', 'visibilitychange']);
    listeners.get('pagehide')!();
    stopHide();
    stopSync();
    expect(await storage.getItem('persist:root')).toBe(JSON.stringify({ a: '1' }));
    // flushOnHide's default target: the global one (none in Node: it does nothing).
    expect(flushOnHide(storage, { target: absent })).toBeTypeOf('function');
  }, 60_000);
});
