/**
 * A slow uplink (flap attack): fetch tells nothing while it sends a body, so the time a big write takes to upload
 * looked like silence, and on a link below ~30 kB/s a value over ~900 kB timed out while still sending, in every
 * retry, forever. The silence limit now allows a body's upload time at 16 kB/s on top of `requestTimeout`. The uplink
 * here: an app `fetch` that holds every request with a body for the time its bytes take at 40 kB/s, as the network
 * would (no answer before the whole body is sent).
 */
import { describe, expect, it, type TestContext } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

/** `fetch` over a 40 kB/s uplink. */
const slowUplink: typeof fetch = async (input, init) => {
  const body = init?.body;
  const bytes = typeof body === 'string' ? body.length : 0;
  if (bytes > 0) await new Promise((resolve) => setTimeout(resolve, bytes / 40));
  return fetch(input, init);
};

/** A client closed when the test that made it ends. */
function client(test: TestContext, user: string, mode: 'remote' | 'local-first', fetchFn: typeof fetch = slowUplink): FeatClient {
  const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode, local: { adapter: 'memory' }, requestTimeout: 2_000, fetch: fetchFn });
  test.onTestFinished(() => c.close().catch(() => undefined));
  return c;
}

// The two cases are two users with their own clients (each closed when its case ends): they wait out their uploads
// side by side.
describe.concurrent('a big write over a slow uplink', () => {
  it('remote mode: a 300 kB set that takes ~7.5 s to send (requestTimeout 2 s) succeeds', async (test) => {
    const user = uniqueUser('uplink');
    const value = text(300_000, 1);
    const c = client(test, user, 'remote');
    await c.ready();
    await c.store.set('big', value);
    expect(await client(test, user, 'remote', fetch).store.get('big')).toBe(value);
  }, 60_000);

  it('local-first: the same value reaches the server in one push, not re-sent on every timeout', async (test) => {
    const user = uniqueUser('uplink');
    const value = text(300_000, 2);
    let bulk = 0;
    const c = client(test, user, 'local-first', (input, init) => {
      if (String(input instanceof Request ? input.url : input).includes('_bulk_docs')) bulk++;
      return slowUplink(input, init);
    });
    await c.ready();
    await c.store.set('big', value);
    await c.sync.waitForPush({ timeout: 40_000 });
    expect(bulk).toBe(1);
    await waitFor(async () => (await client(test, user, 'remote', fetch).store.get('big')) === value, 10_000, 'the value on the server');
  }, 60_000);
});
