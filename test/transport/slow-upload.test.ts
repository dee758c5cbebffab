/**
 * A slow uplink (flap attack): fetch tells nothing while it sends a body, so the time a big write takes to upload
 * looked like silence, and on a link below ~30 kB/s a value over ~900 kB timed out while still sending, in every
 * retry, forever. The silence limit now allows a body's upload time at 16 kB/s on top of `requestTimeout`. The uplink
 * here: an app `fetch` that holds every request with a body for the time its bytes take at 40 kB/s, as the network
 * would (no answer before the whole body is sent).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it, type TestContext } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { text, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();

/**
 * `fetch` over an uplink of `rate` kB/s that the requests share as TCP connections do (each body being sent gets an
 * equal part, every 20 ms), counted in UTF-8 bytes as the wire counts them: a request goes once its body is sent.
 */
function uplink(rate: number): typeof fetch {
  const sending = new Set<{ left: number; sent: () => void }>();
  let ticker: ReturnType<typeof setInterval> | undefined;
  const tick = () => {
    let budget = rate * 20;
    while (budget > 0.5 && sending.size) {
      const share = budget / sending.size;
      for (const body of [...sending]) {
        const used = Math.min(share, body.left);
        body.left -= used;
        budget -= used;
        if (body.left <= 0) {
          sending.delete(body);
          body.sent();
        }
      }
    }
    if (!sending.size) ticker = void clearInterval(ticker);
  };
  return async (input, init) => {
    const body = init?.body;
    const bytes =
      typeof body === 'string' ? new TextEncoder().encode(body).length : body instanceof Blob ? body.size : body instanceof ArrayBuffer || ArrayBuffer.isView(body) ? body.byteLength : 0;
    if (body && bytes === 0 && typeof body !== 'string') throw new Error(`uplink: a body it cannot measure (${Object.prototype.toString.call(body)})`);
    if (bytes > 0) {
      await new Promise<void>((sent) => {
        sending.add({ left: bytes, sent });
        ticker ??= setInterval(tick, 20);
      });
    }
    return fetch(input, init);
  };
}
const slowUplink = uplink(40);

/** Text of `n` CJK characters (3 UTF-8 bytes each). */
const cjk = (n: number, seed: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919 + seed) % 20_000))).join('');

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

  it('remote mode: 300,000 CJK characters (900 kB on the wire) at 30 kB/s: its upload time counts its bytes, not its characters', async (test) => {
    const user = uniqueUser('uplink-cjk');
    const value = cjk(300_000, 3);
    const c = client(test, user, 'remote', uplink(30));
    await c.ready();
    await c.store.set('big', value);
    expect(await client(test, user, 'remote', fetch).store.get('big')).toBe(value);
  }, 120_000);

  it('remote mode: two clients write 300 kB each at once over one 20 kB/s uplink: both succeed, each sent once', async (test) => {
    const user = uniqueUser('uplink-shared');
    const [one, two] = [text(300_000, 4), text(300_000, 5)];
    let bulk = 0;
    const link = uplink(20);
    const counted: typeof fetch = (input, init) => {
      if (String(input instanceof Request ? input.url : input).includes('_bulk_docs')) bulk++;
      return link(input, init);
    };
    const [a, b] = [client(test, user, 'remote', counted), client(test, user, 'remote', counted)];
    await Promise.all([a.ready(), b.ready()]);
    await Promise.all([a.store.set('one', one), b.store.set('two', two)]);
    const reader = client(test, user, 'remote', fetch);
    expect([await reader.store.get('one'), await reader.store.get('two')]).toEqual([one, two]);
    expect(bulk).toBeLessThanOrEqual(2);
  }, 120_000);

  it('local-first: a keystroke-sized write made while a 2 MB value uploads at 40 kB/s reaches the server long before it', async (test) => {
    const user = uniqueUser('uplink-note');
    const c = client(test, user, 'local-first', uplink(40));
    await c.ready();
    await c.store.set('warm', 1);
    await c.sync.waitForPush({ timeout: 20_000 });
    // (Random: text() repeats itself, and repeated chunks are sent once.)
    const big = randomBytes(1_500_000).toString('base64');
    void c.store.set('big', big);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const t0 = Date.now();
    await c.store.set('note', 'typed during the upload');
    const reader = client(test, user, 'remote', fetch);
    await waitFor(async () => (await reader.store.get('note')) === 'typed during the upload', 20_000, 'the note on the server before the big value');
    const noteMs = Date.now() - t0;
    // The big value is on its way (about 50 s), then there whole.
    expect(await reader.store.get('big').catch(() => undefined)).not.toBe(big);
    await c.sync.waitForPush({ timeout: 90_000 });
    expect(await reader.store.get('big')).toBe(big);
    expect(noteMs).toBeLessThan(20_000);
  }, 150_000);

});

// Alone (not beside the slow uploads above: the uploads of one process share its uplink, and give it their time).
describe('a request held while other uploads come and go', () => {
  it('a request the server holds still times out while other clients keep uploading over a fast link', async (test) => {
    const user = uniqueUser('uplink-held');
    // A write carrying HOLDME is never answered (a proxy that took the body and went quiet).
    const hold: typeof fetch = (input, init) =>
      typeof init?.body === 'string' && init.body.includes('HOLDME')
        ? new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(init.signal!.reason as Error), { once: true }))
        : fetch(input, init);
    const held = client(test, user, 'remote', hold);
    const busy = client(test, user, 'remote', fetch);
    await Promise.all([held.ready(), busy.ready()]);
    let stop = false;
    let writes = 0;
    // Another part of the app saves a 40 kB document every 250 ms; each is answered in milliseconds.
    const background = (async () => {
      const v = randomBytes(30_000).toString('base64');
      while (!stop) {
        await busy.store.set(`busy${writes++ % 5}`, v + writes);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    const t0 = performance.now();
    const outcome = await Promise.race([
      held.store.set('held', 'HOLDME').then(
        () => 'resolved',
        (e: { code?: string }) => `rejected:${e.code}`,
      ),
      new Promise((resolve) => setTimeout(resolve, 40_000, 'still pending after 40 s')),
    ]);
    const ms = performance.now() - t0;
    stop = true;
    await background;
    expect({ outcome, bounded: ms < 15_000, busy: writes > 5 }).toEqual({ outcome: 'rejected:timeout', bounded: true, busy: true });
  }, 90_000);
});
