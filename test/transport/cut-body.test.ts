/**
 * An answer cut while its body is still arriving (a mobile link lost mid-transfer) ends the body read with fetch's own
 * `TypeError: terminated`. Every call must still reject with a `FeatError` and a stable code (`network`), never that
 * raw TypeError. Found over a slow, thin link: `get()` of a big (chunked) value in remote mode rejected with the raw
 * error once the link dropped.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type FeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();

/** A `fetch` whose answers to matching requests lose their connection after the first bytes of the body. */
function cutting(match: (method: string, url: string) => boolean) {
  const state = { on: false, cut: 0 };
  const fetchImpl: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    if (!state.on || !response.body || !match(method, url)) return response;
    state.cut++;
    const reader = response.body.getReader();
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent) {
          void reader.cancel().catch(() => undefined);
          return controller.error(new TypeError('terminated'));
        }
        const { done, value } = await reader.read();
        if (done) return controller.close();
        sent = true;
        controller.enqueue(value.subarray(0, Math.max(1, Math.floor(value.byteLength / 2))));
      },
    });
    // (No content-length: the SDK reads such a body as a stream.)
    const headers = new Headers(response.headers);
    headers.delete('content-length');
    return new Response(body, { status: response.status, statusText: response.statusText, headers });
  };
  return { state, fetchImpl };
}

const big = (n: number) => ({ text: Array.from({ length: n }, (_, i) => (i * 7919).toString(36)).join(' ') });

async function expectNetwork(call: Promise<unknown>): Promise<void> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the call must fail: its answer was cut').toBeDefined();
  expect(isFeatError(error), `a FeatError, not ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe('network');
}

describe('an answer cut mid-body (remote mode): a FeatError `network`', () => {
  const setup = async (match: (method: string, url: string) => boolean) => {
    const user = uniqueUser('cut');
    const { state, fetchImpl } = cutting(match);
    const client: FeatClient = emu.track(
      createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', fetch: fetchImpl, maintenance: { enabled: false } }),
    );
    await client.ready();
    return { client, state };
  };

  it('get() of a big value whose chunks are being read', async () => {
    const { client, state } = await setup((method, url) => method === 'POST' && url.includes('/_all_docs'));
    const value = big(200_000);
    await client.store.set('big', value);
    state.on = true;
    await expectNetwork(client.store.get('big'));
    expect(state.cut).toBeGreaterThan(0);
    state.on = false;
    expect(await client.store.get('big')).toEqual(value);
  }, 60_000);

  it('get() of a small value', async () => {
    const { client, state } = await setup((method, url) => method === 'GET' && url.includes('/k?'));
    await client.store.set('k', big(2_000));
    state.on = true;
    await expectNetwork(client.store.get('k'));
    expect(state.cut).toBeGreaterThan(0);
  }, 60_000);

  it('getParts(), keys(), getItem()', async () => {
    const { client, state } = await setup((method, url) => url.includes('/_all_docs') || /\/item\?/.test(url));
    await client.store.setParts('doc', { a: big(500), b: big(500) });
    await client.store.setItem('item', 'x'.repeat(5_000));
    state.on = true;
    await expectNetwork(client.store.getParts('doc'));
    await expectNetwork(client.store.keys());
    await expectNetwork(client.store.getItem('item'));
    expect(state.cut).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('find()', async () => {
    const { client, state } = await setup((method, url) => url.includes('/_find'));
    await client.store.set('todo:1', { done: false, text: big(500).text });
    state.on = true;
    await expectNetwork(client.store.find({ prefix: 'todo:', selector: { done: false } }));
    expect(state.cut).toBeGreaterThan(0);
  }, 60_000);
});
