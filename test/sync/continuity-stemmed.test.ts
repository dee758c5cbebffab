/**
 * The server-continuity check (sync/continuity.ts) asks whether recent pushed revisions are still on the server. One
 * that another device edited past `_revs_limit` is gone from the server's history (stemmed), yet nothing was lost: a
 * device reopening then must not take the server for one restored from a backup and start sync over from scratch
 * (the whole database pulled again, every revision asked about).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { setRevsLimit } from './revs-limit.js';

const emu = useEmulator();
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function client(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' }, requestTimeout: 5_000, ...extra } as FeatClientOptions);
  cleanups.push(() => c.close().catch(() => undefined));
  return c;
}

describe('a document another device edited past _revs_limit while this one was closed', () => {
  it('is no restore: the reopened device pulls the change, without starting over from scratch', async () => {
    const user = uniqueUser('stem-cont');
    const dir = mkdtempSync(path.join(tmpdir(), 'feat-stem-cont-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const local = { adapter: 'leveldb', name: path.join(dir, 'replica') } as const;
    const a = client(user, { local });
    await a.ready();
    for (let i = 0; i < 150; i++) await a.store.set(`k${i}`, `value of k${i} `.repeat(20));
    await a.store.set('draft', 'first');
    await a.sync.waitForPush({ timeout: 30_000 });
    await a.close();
    await setRevsLimit(emu, user, 5);
    // The web app (remote mode) types into the draft: its first revision leaves the server's history.
    const web = client(user, { mode: 'remote' });
    for (let i = 0; i < 12; i++) await web.store.set('draft', `typed ${i}`);
    const log: { path: string; query: string; bytes: number }[] = [];
    const recording: typeof fetch = (input, init) => {
      const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      log.push({ path: url.pathname, query: url.search, bytes: typeof init?.body === 'string' ? init.body.length : 0 });
      return fetch(input, init);
    };
    const again = client(user, { local, fetch: recording });
    await again.ready();
    await waitFor(async () => (await again.store.get('draft')) === 'typed 11', 30_000, 'the draft pulled');
    await again.sync.waitForPush({ timeout: 30_000 });
    await sleep(3_000);
    const fromZero = log.filter((r) => r.path.endsWith('/_changes') && /[?&]since=0(&|$)/.test(r.query)).length;
    const asked = log.filter((r) => r.path.endsWith('/_revs_diff')).reduce((sum, r) => sum + r.bytes, 0);
    expect({ fromZero, askedAboutEverything: asked > 4_000 }).toEqual({ fromZero: 0, askedAboutEverything: false });
  }, 120_000);
});
