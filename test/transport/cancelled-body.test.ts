/**
 * A response whose body the SDK cancels unread (a 401 before the retry with a new token, an error's answer) is finished:
 * nothing of it waits for `requestTimeout`. Seen from outside through the `fetch` option: `close()` ends requests still
 * in flight by aborting their signals — a finished exchange's signal is left alone. (Before: each cancelled answer kept
 * its silence timer and its listener on the client's lifetime until `requestTimeout`, so a burst of 401s held memory
 * for 30 s, and close() aborted them all.)
 */
import { expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

it('the 401s answered before a token refresh are done with once their bodies are cancelled', async () => {
  const seen: { status: number; signal: AbortSignal }[] = [];
  const recording: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (init?.signal) seen.push({ status: response.status, signal: init.signal });
    return response;
  };
  const client = emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('cb')), mode: 'remote', requestTimeout: 60_000, fetch: recording }),
  );
  await client.ready();
  await client.store.set('k', 0);
  for (let i = 1; i <= 5; i++) {
    emu.rotateSecret();
    await client.store.set('k', i);
  }
  expect(await client.store.get('k')).toBe(5);
  const refused = seen.filter((s) => s.status === 401);
  expect(refused.length).toBeGreaterThanOrEqual(5);
  await client.close();
  // Every 401 was read (cancelled) long before close(): none is still listening for the client's end.
  expect(refused.filter((s) => s.signal.aborted).length).toBe(0);
});
