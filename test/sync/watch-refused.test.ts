/**
 * A watch's feed gets its database from the client's ready(): a watch that retried a refused ready() with backoff
 * signed a refused client in by itself, forever (and took another account's replica over once its owner logged out).
 * A refusal (`forbidden`, `unauthorized`) is reported once and waits for the app's next call (a write: `started()`,
 * or `resume()`); any other failure (the network) is still retried with backoff, as before.
 */
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { expect, it } from 'vitest';
import { FeatError } from '../../src/errors.js';
import type { Db } from '../../src/store/db.js';
import { ChangeWatcher } from '../../src/sync/watch.js';

if (!(PouchDB as unknown as { adapters: Record<string, unknown> }).adapters.memory) PouchDB.plugin(MemoryAdapter);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A watcher whose db() fails with `code` until `open` is set; counts the calls. */
function watcher(code: string) {
  const state = { calls: 0, errors: [] as string[], events: [] as string[], open: undefined as Db | undefined };
  const w = new ChangeWatcher({
    db: () => {
      state.calls++;
      return state.open ? Promise.resolve(state.open) : Promise.reject(new FeatError(code as never, `${code} (test)`));
    },
    isOwn: () => false,
    onError: (error) => state.errors.push(error.code),
  });
  w.subscribe({ prefix: '' }, (event) => state.events.push(event.key));
  return { w, state };
}

it.each(['forbidden', 'unauthorized'])('refused (%s): reported once, not retried by itself; a write resumes it', async (code) => {
  const { w, state } = watcher(code);
  await sleep(2_000);
  expect(state).toMatchObject({ calls: 1, errors: [code] });
  const db = new PouchDB(`watch-refused-${code}-${Date.now()}`, { adapter: 'memory' }) as unknown as Db & PouchDB.Database;
  state.open = db;
  // A write asks started() once it has its database.
  await w.started(5_000);
  expect(state.calls).toBe(2);
  await db.put({ _id: 'k', value: 1 } as never);
  await expect.poll(() => state.events, { timeout: 5_000 }).toEqual(['k']);
  await w.close();
  await db.destroy();
}, 20_000);

it('a network failure is retried with backoff, and the feed starts once the database comes', async () => {
  const { w, state } = watcher('network');
  await sleep(2_000);
  expect(state.calls).toBeGreaterThanOrEqual(2);
  const db = new PouchDB(`watch-network-${Date.now()}`, { adapter: 'memory' }) as unknown as Db & PouchDB.Database;
  state.open = db;
  await expect.poll(() => w.started(0) === undefined && state.errors.length < state.calls, { timeout: 10_000 }).toBe(true);
  await db.put({ _id: 'k', value: 1 } as never);
  await expect.poll(() => state.events, { timeout: 5_000 }).toEqual(['k']);
  await w.close();
  await db.destroy();
}, 20_000);
