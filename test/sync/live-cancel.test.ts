/**
 * A live sync side cancelled inside a batch (stop(), going offline, the first pull's timeout) saves no checkpoint past
 * what it did not finish: the batch is handled again by the next start, never skipped.
 */
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { expect, it } from 'vitest';
import type { Db } from '../../src/store/db.js';
import { PUSH_CHECKPOINT, LivePush } from '../../src/sync/live-push.js';
import { backOff } from '../../src/sync/replicator.js';

if (!(PouchDB as unknown as { adapters: Record<string, unknown> }).adapters.memory) PouchDB.plugin(MemoryAdapter);

it('push: cancelled while asking the server what it lacks → nothing sent, no checkpoint saved', async () => {
  const local = new PouchDB(`live-cancel-${Date.now()}`, { adapter: 'memory' }) as unknown as Db & PouchDB.Database;
  await local.bulkDocs([{ _id: 'a' }, { _id: 'b' }, { _id: 'c' }] as never);
  const sent: unknown[] = [];
  const remote = { bulkDocs: async (docs: unknown[]) => (sent.push(...docs), []) } as unknown as Db;
  let asked!: () => void;
  const askedP = new Promise<void>((resolve) => (asked = resolve));
  let answer!: () => void;
  const revsDiff = async (diff: Record<string, string[]>) => {
    asked();
    await new Promise<void>((resolve) => (answer = resolve));
    return Object.fromEntries(Object.entries(diff).map(([id, missing]) => [id, { missing }]));
  };
  const push = new LivePush(local, remote, backOff, revsDiff);
  await askedP;
  push.cancel();
  answer();
  await push;
  expect(sent).toEqual([]);
  await expect(local.get(PUSH_CHECKPOINT)).rejects.toMatchObject({ status: 404 });
  await local.destroy();
});
