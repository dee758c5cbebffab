/**
 * The live push's checkpoint under a stream of small batches: written at most once per 500 ms (not once per batch),
 * the last one written once the side goes idle, and a stop drops only the save waiting (what it covers is sent again,
 * which the server ignores).
 */
import PouchDB from 'pouchdb-core';
import MemoryAdapter from 'pouchdb-adapter-memory';
import { expect, it } from 'vitest';
import type { Db } from '../../src/store/db.js';
import { PUSH_CHECKPOINT, LivePush } from '../../src/sync/live-push.js';
import { backOff } from '../../src/sync/replicator.js';

if (!(PouchDB as unknown as { adapters: Record<string, unknown> }).adapters.memory) PouchDB.plugin(MemoryAdapter);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('push: 40 batches 10 ms apart write the checkpoint a few times, and the last sequence once idle', async () => {
  const local = new PouchDB(`live-checkpoint-${Date.now()}`, { adapter: 'memory' }) as unknown as Db & PouchDB.Database;
  const sent: string[] = [];
  const remote = { bulkDocs: async (docs: { _id: string }[]) => (sent.push(...docs.map((d) => d._id)), []) } as unknown as Db;
  const revsDiff = async (diff: Record<string, string[]>) => Object.fromEntries(Object.entries(diff).map(([id, missing]) => [id, { missing }]));
  // Every write of the checkpoint, seen on the replica's own changes of _local documents (not in the feed): counted at put.
  let saves = 0;
  const put = local.put.bind(local);
  (local as unknown as { put: typeof put }).put = ((doc: { _id: string }, ...rest: unknown[]) => {
    if (doc._id === PUSH_CHECKPOINT) saves++;
    return (put as (...a: unknown[]) => Promise<unknown>)(doc, ...rest);
  }) as typeof put;
  const push = new LivePush(local, remote, backOff, revsDiff);
  let idle = 0;
  push.on('paused', () => idle++);
  await sleep(100);
  const t0 = Date.now();
  for (let i = 0; i < 40; i++) {
    await local.put({ _id: `k${i}` } as never);
    await sleep(10);
  }
  const last = (await local.info()).update_seq;
  const deadline = Date.now() + 5_000;
  while (sent.length < 40 && Date.now() < deadline) await sleep(10);
  expect(sent).toHaveLength(40);
  // ≥ 400 ms of batches: a save per 500 ms, plus the first and the last.
  const elapsed = Date.now() - t0;
  await sleep(700);
  expect(saves).toBeGreaterThanOrEqual(1);
  expect(saves).toBeLessThanOrEqual(Math.ceil(elapsed / 500) + 2);
  expect(((await local.get(PUSH_CHECKPOINT)) as unknown as { seq: unknown }).seq).toBe(last);
  expect(idle).toBeGreaterThan(0);
  push.cancel();
  await push;
  await local.destroy();
});

it('push: stopped with a save waiting → that save is dropped; a new side starts from the saved one and sends again', async () => {
  const local = new PouchDB(`live-checkpoint-stop-${Date.now()}`, { adapter: 'memory' }) as unknown as Db & PouchDB.Database;
  const sent: string[] = [];
  const remote = { bulkDocs: async (docs: { _id: string }[]) => (sent.push(...docs.map((d) => d._id)), []) } as unknown as Db;
  const revsDiff = async (diff: Record<string, string[]>) => Object.fromEntries(Object.entries(diff).map(([id, missing]) => [id, { missing }]));
  const push = new LivePush(local, remote, backOff, revsDiff);
  await sleep(100);
  await local.put({ _id: 'first' } as never);
  while (!sent.includes('first')) await sleep(5);
  await sleep(50); // its checkpoint is written at once (nothing written in the 500 ms before)
  const saved = ((await local.get(PUSH_CHECKPOINT)) as unknown as { seq: number }).seq;
  await local.put({ _id: 'second' } as never);
  while (!sent.includes('second')) await sleep(5);
  push.cancel(); // within 500 ms of the first save: the second one was waiting
  await push;
  expect(((await local.get(PUSH_CHECKPOINT)) as unknown as { seq: number }).seq).toBe(saved);
  sent.length = 0;
  const again = new LivePush(local, remote, backOff, revsDiff);
  const deadline = Date.now() + 5_000;
  while (!sent.includes('second') && Date.now() < deadline) await sleep(10);
  expect(sent).toEqual(['second']);
  again.cancel();
  await again;
  await local.destroy();
});

it('pull, first pull (once): resolves only once its last checkpoint is written, even when a save was running', async () => {
  const { LivePull, PULL_CHECKPOINT } = await import('../../src/sync/live-pull.js');
  const local = new PouchDB(`live-checkpoint-once-${Date.now()}`, { adapter: 'memory' }) as unknown as Db & PouchDB.Database;
  // A slow replica: each checkpoint write takes 30 ms, so the second batch's save comes while the first one runs.
  const put = local.put.bind(local);
  (local as unknown as { put: typeof put }).put = (async (...args: unknown[]) => {
    await sleep(30);
    return (put as (...a: unknown[]) => Promise<unknown>)(...args);
  }) as typeof put;
  const change = (n: number) => ({ seq: n, id: `d${n}`, changes: [{ rev: '1-aaaa' }], doc: { _id: `d${n}`, _rev: '1-aaaa', doc: n } });
  const pages = [
    { results: Array.from({ length: 100 }, (_, i) => change(i + 1)), last_seq: 100 },
    { results: [change(101)], last_seq: 101 },
  ];
  const feedOf = (answer: unknown) => Object.assign(Promise.resolve(answer), { on: function on(this: unknown) { return this; }, cancel: () => undefined });
  let page = 0;
  const remote = { changes: () => feedOf(pages[Math.min(page++, 1)] ?? { results: [], last_seq: 101 }) } as unknown as Db;
  const pull = new LivePull(local, remote, backOff, { once: true });
  await pull;
  expect(((await local.get(PULL_CHECKPOINT)) as unknown as { seq: unknown }).seq).toBe(101);
  expect((await local.allDocs()).rows).toHaveLength(101);
  await local.destroy();
});
