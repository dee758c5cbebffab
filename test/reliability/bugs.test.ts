/**
 * Bugs found by the reliability campaign, each pinned by a minimal reproduction. A test marked `it.fails` documents an
 * OPEN bug: it fails today (so the suite stays green) and starts "passing unexpectedly" — i.e. failing the suite — once
 * the bug is fixed; then drop the `.fails`. See docs/reliability.md for the list and status.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { startEmulator, type Emulator } from '@feat/sdk/emulator';

let emu: Emulator;
const clients: FeatClient[] = [];
beforeAll(async () => {
  emu = await startEmulator({ port: 0, peruserDelayMs: 0 });
});
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await emu?.stop();
});

let n = 0;
const user = () => `bug-${process.pid}-${n++}-${Math.random().toString(36).slice(2, 8)}`;
function client(name: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(name), local: { adapter: 'memory' }, ...extra });
  clients.push(c);
  return c;
}

describe.each([{ mode: 'remote' as const }, { mode: 'local-first' as const }])('B1 ($mode): close() right after set()', ({ mode }) => {
  // B1 — src/client.ts Client.#close() / #db(): close() sets #closing synchronously, then awaits store.flush(); the
  // write queue drains on a microtask and its batch calls #db(), which throws `closed` because #closing is set. So a
  // write made before close() is rejected with `closed` instead of being flushed ("close() flushes pending writes").
  it.fails('a set() made just before close() is stored, not rejected with closed', async () => {
    const name = user();
    const a = client(name, { mode });
    await a.ready();
    const write = a.store.set('k', 'v');
    await a.close();
    await expect(write).resolves.toBeUndefined();
  });
});

describe('B2: the first token fetch after a network blip', () => {
  // B2 — src/session/session.ts SessionSource.#fetchToken(): the accounts request is not retried when it fails on a
  // kept-alive connection the network had dropped (undici: TypeError "fetch failed", cause "other side closed").
  // The CouchDB transport retries such a request once on a fresh connection (src/transport/couch-fetch.ts send());
  // the token fetch does not, so after a blip the next ready() (a new client, a re-opened app) rejects with
  // `network` although the server is up. Reproduces 10/10.
  it.fails('ready() of a new client succeeds after the server came back', async () => {
    const name = user();
    const a = client(name, { mode: 'remote' });
    await a.ready();
    await emu.suspend();
    await emu.resume();
    const b = client(name, { mode: 'remote' });
    await expect(b.ready()).resolves.toMatchObject({ userName: name });
  });
});
