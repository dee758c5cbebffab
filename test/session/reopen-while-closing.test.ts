/**
 * A named `leveldb` replica opened by a new client while another client of it is still open or closing (a "switch
 * account" or remount that does not await close()/logout()). pouchdb-adapter-leveldb shares one LevelDB store per name
 * in the process: an open made while that store closes never completed (every later ready() waited on it: `timeout`),
 * and a client closing after the new one opened closed the store under it (its calls never answered).
 */
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const dir = mkdtempSync(path.join(tmpdir(), 'feat-reopen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 'ok', the FeatError's code, or 'hung' when `promise` did not settle within `ms`. */
const outcome = (promise: Promise<unknown>, ms = 5_000) =>
  Promise.race([
    promise.then(
      () => 'ok',
      (e: unknown) => (isFeatError(e) ? e.code : `untyped: ${String(e)}`),
    ),
    sleep(ms).then(() => 'hung'),
  ]);

function client(user: string, name: string): FeatClient {
  const options: FeatClientOptions = { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'leveldb', name } };
  return emu.track(createFeatClient(options));
}

/** Whether another LevelDB handle can take the replica's lock (no database of the process keeps the store open). */
async function released(name: string): Promise<boolean> {
  type LevelDown = (location: string) => { open(cb: (e?: unknown) => void): void; close(cb: (e?: unknown) => void): void };
  const leveldown = createRequire(import.meta.url)('leveldown') as LevelDown;
  const db = leveldown(name);
  const error = await new Promise<unknown>((resolve) => db.open(resolve));
  if (!error) await new Promise((resolve) => db.close(resolve));
  return !error;
}

describe('a named leveldb replica reopened while another client of it closes', () => {
  for (const end of ['close', 'logout'] as const) {
    it(`${end}() not awaited: the next client's first ready() opens it once that close ended`, { timeout: 60_000 }, async () => {
      const user = uniqueUser('reopen');
      const name = path.join(dir, `${end}-${user}`);
      const c1 = client(user, name);
      await c1.ready();
      await c1.store.set('k', 1);
      const ending = end === 'close' ? c1.close() : c1.logout();
      const c2 = client(user, name);
      expect(await outcome(c2.ready())).toBe('ok');
      expect(await outcome(ending)).toBe('ok');
      expect(await outcome(c2.store.get('k').then((v) => expect(v).toBe(1)))).toBe('ok');
      expect(await outcome(c2.store.set('k', 2))).toBe('ok');
      // A third client after the second closed: the replica opens again, with the second one's write.
      await c2.close();
      const c3 = client(user, name);
      expect(await outcome(c3.ready())).toBe('ok');
      expect(await c3.store.get('k')).toBe(2);
    });
  }

  it('a client closing after the next one opened leaves the store open for it; the last close releases it', { timeout: 60_000 }, async () => {
    const user = uniqueUser('reopen');
    const name = path.join(dir, `shared-${user}`);
    const c1 = client(user, name);
    await c1.ready();
    await c1.store.set('a', 1);
    const c2 = client(user, name);
    await c2.ready();
    await c1.close();
    expect(await outcome(c2.store.set('b', 2))).toBe('ok');
    expect(await outcome(c2.store.get('a').then((v) => expect(v).toBe(1)))).toBe('ok');
    expect(await released(name)).toBe(false);
    await c2.close();
    expect(await released(name)).toBe(true);
  });

  it('a client closing while the next one is opening it (any moment of that open): the next one opens and works', { timeout: 90_000 }, async () => {
    const failures: string[] = [];
    for (let delay = 0; delay <= 120; delay += 3) {
      const user = uniqueUser('reopen');
      const name = path.join(dir, `opening-${delay}-${user}`);
      const c1 = client(user, name);
      await c1.ready();
      await c1.store.set('k', 1);
      const c2 = client(user, name);
      const opening = outcome(c2.ready(), 8_000);
      await sleep(delay);
      await c1.close();
      const opened = await opening;
      const read = opened === 'ok' ? await outcome(c2.store.get('k').then((v) => expect(v).toBe(1))) : 'not opened';
      if (opened !== 'ok' || read !== 'ok') failures.push(`${delay} ms: ready ${opened}, read ${read}`);
      await c2.close();
    }
    expect(failures).toEqual([]);
  });
});
