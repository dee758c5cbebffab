/**
 * close() racing find()/createIndex() on LevelDB replicas, 12 rounds: each settles (ok, or closed) — 11 of 12 rounds
 * had one that never settled, or rejected with bad_response ("database is closed"), before queries were ended by close.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const dir = mkdtempSync(join(tmpdir(), 'feat-find-close-'));
// (LevelDB may still be writing an index's files just after close(): retried.)
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));
const tag = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isFeatError(e) ? e.code : `RAW ${String(e)}`),
  );

describe('leveldb: close() racing find/createIndex, 12 rounds', () => {
  it('every find/createIndex settles (ok or closed) within 15 s of close()', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 12; i++) {
      const c = createFeatClient({
        couchUrl: emu.couchUrl,
        accountsUrl: emu.accountsUrl,
        auth: emu.bearerFor(uniqueUser('fhl')),
        local: { adapter: 'leveldb', name: join(dir, `r${i}`) },
      });
      await c.ready();
      c.store.watch({ prefix: '' }, () => {}, { initial: true });
      void c.store.setParts('p', { x: 1 }).catch(() => {});
      void c.store.set('k', { a: 1 }).catch(() => {});
      const calls = [tag(c.store.find({ selector: { a: 1 } })), tag(c.store.createIndex({ fields: ['a'] }))];
      await new Promise((r) => setTimeout(r, i % 4));
      await c.close();
      const res = await Promise.all(calls.map((p) => Promise.race([p, new Promise<string>((r) => setTimeout(r, 15_000, 'HANG'))])));
      outcomes.push(res.join('/'));
    }
    expect(outcomes.filter((o) => !/^(ok|closed)\/(ok|closed)$/.test(o))).toEqual([]);
  }, 120_000);
});
