/**
 * close() ends an import waiting on a source that stalls (README: close() ends every wait, `closed`), and an
 * `onProgress` callback that throws stops neither export nor import: its error goes to the `error` event, as a
 * listener's does.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

const settle = (p: Promise<unknown>, ms: number) =>
  Promise.race([
    p.then(
      () => 'resolved',
      (e: unknown) => (isFeatError(e) ? e.code : `raw ${String(e)}`),
    ),
    sleep(ms).then(() => `pending after ${ms} ms`),
  ]);

const header = (keys: number) =>
  JSON.stringify({ format: 'feat-export', version: 1, userName: 'a', dbName: 'userdb-61', exportedAt: new Date().toISOString(), counts: { keys, parts: 0 } });

describe.concurrent.each(['remote', 'local-first'] as const)('%s', (mode) => {
  const client = () =>
    emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('icp')), mode, local: { adapter: 'memory' } }));

  it('close() ends an import whose source stalls: closed, at once', async () => {
    const c = client();
    await c.ready();
    async function* stalled() {
      yield header(2);
      yield '{"key":"a","value":1,"updatedAt":1}';
      await new Promise(() => undefined);
    }
    const importing = settle(c.importData(stalled()), 8_000);
    await sleep(300);
    const t0 = Date.now();
    await c.close();
    expect(await importing).toBe('closed');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('an onProgress that throws: export and import finish, the error event says so', async () => {
    const c = client();
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    await c.store.set('a', 1);
    const boom = () => {
      throw new Error('progress boom');
    };
    const text = await c.exportData({ onProgress: boom });
    expect(text.split('\n').filter(Boolean)).toHaveLength(2);
    const result = await c.importData(`${header(1)}\n{"key":"b","value":2,"updatedAt":1}\n`, { onProgress: boom });
    expect(result).toEqual({ imported: 1, skipped: 0 });
    expect(await c.store.get('b')).toBe(2);
    const fromProgress = errors.filter((e) => /onProgress callback threw: progress boom/.test(e.message));
    expect(fromProgress.length).toBeGreaterThanOrEqual(2);
    expect(fromProgress.every((e) => e.code === 'invalid_argument' && (e.cause as Error).message === 'progress boom')).toBe(true);
  });
});
