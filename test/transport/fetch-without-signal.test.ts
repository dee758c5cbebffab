/**
 * README "Nothing hangs": every request fails with `timeout` after `requestTimeout` of silence, and `close()` ends the
 * requests in flight — whatever the `fetch` option does with the AbortSignal. A wrapper that does not pass it on (an
 * older polyfill, one that rebuilds `init`) must not turn a silent server into a call that never settles.
 */
import { afterAll, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
});

/** Forwards method, headers and body — not the signal. */
const withoutSignal: typeof fetch = (input, init) =>
  fetch(input, { method: init?.method, headers: init?.headers, body: init?.body, redirect: init?.redirect, credentials: init?.credentials } as RequestInit);

async function setUp(requestTimeout: number): Promise<{ client: FeatClient; proxy: FaultProxy }> {
  const proxy = await startFaultProxy(emu.couchUrl);
  proxies.push(proxy);
  const client = emu.track(
    createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('ns')), mode: 'remote', requestTimeout, fetch: withoutSignal }),
  );
  // The set-up itself runs under the short requestTimeout too: on a loaded machine (CI beside other runs) an answer may
  // take longer than 500 ms — tried again then; what the test is about is the silent server afterwards.
  for (let attempt = 1; ; attempt++) {
    try {
      await client.ready();
      await client.store.set('k', 1);
      break;
    } catch (error) {
      if (attempt >= 5 || !isFeatError(error) || error.code !== 'timeout') throw error;
    }
  }
  return { client, proxy };
}

/** The call's outcome within `ms`: its error code, or that it is still pending. */
const settled = (call: Promise<unknown>, ms: number) =>
  Promise.race([
    call.then(
      () => 'resolved',
      (e: unknown) => (isFeatError(e) ? e.code : `raw ${String(e)}`),
    ),
    sleep(ms).then(() => `still pending after ${ms} ms`),
  ]);

it.each(['hold', 'stall'] as const)('a silent server (%s): get() fails with timeout after requestTimeout', async (fault) => {
  const { client, proxy } = await setUp(500);
  proxy.fault({ method: 'GET', path: /\/userdb-/ }, fault);
  const started = Date.now();
  expect(await settled(client.store.get('k'), 5_000)).toBe('timeout');
  expect(Date.now() - started).toBeLessThan(4_000);
  proxy.release();
});

it.each(['hold', 'stall'] as const)('a silent server (%s): the signal of ready() ends it with aborted', async (fault) => {
  const proxy = await startFaultProxy(emu.couchUrl);
  proxies.push(proxy);
  const client = emu.track(
    createFeatClient({ couchUrl: proxy.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('ns')), mode: 'remote', requestTimeout: 60_000, fetch: withoutSignal }),
  );
  proxy.fault(() => true, fault);
  const controller = new AbortController();
  const ready = client.ready({ signal: controller.signal });
  await sleep(500);
  expect(proxy.held).toBeGreaterThan(0);
  controller.abort();
  expect(await settled(ready, 3_000)).toBe('aborted');
  proxy.release();
});
