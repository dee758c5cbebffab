/**
 * `watch({ prefix }, …, { current: true })` in remote mode reads a big value's manifest; before its chunks are read,
 * another device replaces the value and collects the old chunks. The value is readable throughout: the watch reads it
 * again at its current revision, and never reports it as unreadable ("left out").
 */
import { expect, it } from 'vitest';
import { createFeatClient, type ChangeEvent, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { sleep, text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
let delayNextChunkRead = false;
const slowChunks: typeof fetch = async (input, init) => {
  const body = typeof init?.body === 'string' ? init.body : '';
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (delayNextChunkRead && (body.includes('feat~chunk~') || /feat~chunk~/.test(decodeURIComponent(url)))) {
    delayNextChunkRead = false;
    await sleep(6_000);
  }
  return fetch(input as never, init);
};
const mk = (user: string, slow: boolean): FeatClient =>
  emu.track(
    createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode: 'remote',
      requestTimeout: 20_000,
      ...(slow ? { fetch: slowChunks } : {}),
      maintenance: { enabled: false },
    } as FeatClientOptions),
  );

it('watch current values vs a replace + chunk collection: the key is never reported unreadable', async () => {
  const user = uniqueUser('s24-wgc');
  const a = mk(user, true);
  await a.ready();
  await a.store.set('todo:a', { n: 1 });
  await a.store.set('todo:big', { n: 2, body: text(2_500_000, 3) });
  const b = mk(user, false);
  await b.ready();
  const errors: FeatError[] = [];
  a.sync.on('error', (e) => void errors.push(e));
  const events: ChangeEvent[] = [];
  delayNextChunkRead = true;
  const stop = a.store.watch({ prefix: 'todo:' } as never, (e) => void events.push(e), { current: true } as never);
  await sleep(800);
  await b.store.set('todo:big', { n: 3, body: text(2_500_000, 4) });
  await b.maintenance.run({ chunkGraceMs: 0 } as never);
  await b.maintenance.run({ chunkGraceMs: 0 } as never);
  await waitFor(() => events.some((e) => e.key === 'todo:big' && (e.value as { n: number } | undefined)?.n === 3), 30_000, 'the new value delivered').catch(() => undefined);
  stop();
  expect(events.some((e) => e.key === 'todo:big' && (e.value as { n: number } | undefined)?.n === 3)).toBe(true);
  expect(errors.map((e) => e.message)).toEqual([]);
}, 90_000);
