/**
 * The wall clock jumps mid-session (an NTP correction, the user setting the time): only Date.now moves, timers run on.
 * A bound of seconds within this process (the token backoff, bootstrapTimeout, the hung resolver's 10 s, the offline
 * connection's initialSyncTimeout) is measured on the monotonic clock: a jump back an hour never turns it into an hour,
 * and a jump forward a day never ends it at once. Each case beside its control without the jump.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFeatClient, isFeatError, type Conflict, type FeatClientOptions, type InitialSyncEvent } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { startFaultProxy, useFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator({ peruserDelayMs: 0 });
const couch = useFaultProxy(() => emu.couchUrl);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const realNow = Date.now.bind(Date);
let offset = 0;
/** Moves this process's wall clock by `ms` (negative: back), as an NTP correction does; timers are not affected. */
function jumpClock(ms: number): void {
  offset += ms;
  Date.now = () => realNow() + offset;
}
afterEach(() => {
  offset = 0;
  Date.now = realNow;
  couch.clear();
  couch.release();
});

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Polls `predicate` on the monotonic clock (the test's own waits must not read the clock it moves). */
async function until(predicate: () => boolean | Promise<boolean>, timeout = 20_000): Promise<boolean> {
  const end = performance.now() + timeout;
  for (;;) {
    if (await Promise.resolve(predicate()).catch(() => false)) return true;
    if (performance.now() > end) return false;
    await pause(50);
  }
}

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (isFeatError(e) ? e.code : String(e)),
  );

const remote = (user: string, extra: Partial<FeatClientOptions> = {}) =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', ...extra } as FeatClientOptions));

describe.each([
  ['no jump', 0],
  ['the clock goes back an hour', -HOUR],
])('token backoff, %s', (_name, JUMP) => {
  it('after one failed refresh (accounts 503), writes work again within seconds', async () => {
    const user = uniqueUser('clk-tok');
    const accounts = await startFaultProxy(emu.accountsUrl);
    try {
      const c = remote(user, { accountsUrl: accounts.url });
      await c.ready();
      await c.store.set('a', 0);
      emu.rotateSecret(); // the token is refused: refreshed, and the accounts service fails once
      accounts.fault({ path: /token/ }, 'answer', { status: 503, times: 1, body: { error: 'unavailable', reason: 'fault' } });
      const first = await outcome(c.store.set('a', 1));
      jumpClock(JUMP);
      // The backoff after one failure is at most 500 ms.
      await pause(2_000);
      const results: string[] = [];
      for (let i = 0; i < 3; i++) {
        results.push(await outcome(c.store.set('a', 2 + i)));
        await pause(500);
      }
      expect(results, `first: ${first}`).toContain('ok');
    } finally {
      await accounts.close();
    }
  });
});

describe.each([
  ['no jump', 0, false],
  ['the clock goes back an hour', -HOUR, false],
  ['no jump', 0, true],
  ['the clock goes forward a day', DAY, true],
])('bootstrap, %s', (_name, JUMP, appears) => {
  it(appears ? 'the per-user database appears after 1.5 s: ready() resolves (bootstrapTimeout 6 s)' : 'the per-user database never appears: ready() rejects not_found after bootstrapTimeout (3 s)', async () => {
    const user = uniqueUser('clk-boot');
    const missing = (r: { method: string; path: string }) => r.method === 'GET' && /^\/[a-z][^/_][^/]*\/?$/.test(r.path);
    const before = couch.counts.answer;
    const drop = couch.fault(missing, 'answer', { status: 404, body: { error: 'not_found', reason: 'Database does not exist.' } });
    const c = emu.track(
      createFeatClient({ couchUrl: couch.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', bootstrapTimeout: appears ? 6_000 : 3_000 } as FeatClientOptions),
    );
    const started = performance.now();
    const settled = outcome(c.ready());
    // The first 404 is ready()'s look before it creates the user; the second, the wait for the database.
    expect(await until(() => couch.counts.answer >= before + 2, 10_000), 'the wait for the database').toBe(true);
    jumpClock(JUMP);
    if (appears) setTimeout(drop, 1_500);
    const result = await Promise.race([settled, pause(20_000).then(() => 'still waiting after 20 s')]);
    expect({ result, within20s: performance.now() - started < 20_000 }).toEqual({ result: appears ? 'ok' : 'not_found', within20s: true });
  });
});

describe('conflict resolver that hung once', () => {
  const hangsOnce = () => {
    const seen = { calls: 0 };
    const onConflict = (c: Conflict) => {
      seen.calls++;
      if (seen.calls === 1) return new Promise(() => undefined);
      return (c.local.updatedAt ?? 0) >= (c.remote.updatedAt ?? 0) ? c.local.value : c.remote.value;
    };
    return { seen, onConflict };
  };

  it('the clock goes back an hour: 11 s later it is asked again (not an hour later)', async () => {
    const user = uniqueUser('clk-res');
    const { seen, onConflict } = hangsOnce();
    const x = remote(user);
    const y = remote(user, { onConflict });
    await x.store.set('k', 'x1');
    expect(await outcome(y.store.set('k', 'y1'))).toBe('conflict'); // the hung resolver: 10 s
    jumpClock(-HOUR);
    await pause(11_000);
    await x.store.set('k', 'x2');
    const second = await outcome(y.store.set('k', 'y2'));
    expect({ second, calls: seen.calls }).toEqual({ second: 'ok', calls: 2 });
  }, 60_000);

  it('the clock goes forward a day: right after, it is still not asked (its 10 s have not passed)', async () => {
    const user = uniqueUser('clk-res');
    const { seen, onConflict } = hangsOnce();
    const x = remote(user);
    const y = remote(user, { onConflict });
    await x.store.set('k', 'x1');
    expect(await outcome(y.store.set('k', 'y1'))).toBe('conflict');
    jumpClock(DAY);
    await x.store.set('k', 'x2');
    const started = performance.now();
    const second = await outcome(y.store.set('k', 'y2'));
    expect({ second, calls: seen.calls, atOnce: performance.now() - started < 5_000 }).toEqual({ second: 'conflict', calls: 1, atOnce: true });
  }, 60_000);
});

describe.each([
  ['no jump', 0, false],
  ['the clock goes back an hour', -HOUR, false],
  ['no jump', 0, true],
  ['the clock goes forward a day', DAY, true],
])('local-first, a replica that never completed its first pull, its connection failing: %s', (_name, JUMP, back) => {
  it(back ? 'the network comes back after 1.5 s: ready() waits for it and delivers the data (initialSyncTimeout 10 s)' : 'the server unreachable throughout: ready() resolves offline after initialSyncTimeout (3 s)', async () => {
    const user = uniqueUser('clk-conn');
    const laptop = remote(user);
    await laptop.store.set('settings', { theme: 'dark' });
    const { dbName } = await laptop.ready();
    const before = couch.counts.reset;
    const drop = couch.fault(() => true, 'reset');
    const phone = emu.track(
      createFeatClient({
        couchUrl: couch.url,
        accountsUrl: emu.accountsUrl,
        auth: emu.bearerFor(user),
        session: { dbName, headers: emu.couchHeadersFor(user), userName: user },
        local: { adapter: 'memory' },
        requestTimeout: 2_000,
        initialSyncTimeout: back ? 10_000 : 3_000,
      } as FeatClientOptions),
    );
    const events: InitialSyncEvent[] = [];
    phone.sync.on('initialSync', (e) => events.push(e));
    const started = performance.now();
    const settled = outcome(phone.ready());
    // Two resets fail the first connection (the transport retries one); the third is the retry within the deadline.
    expect(await until(() => couch.counts.reset >= before + 3, 10_000), 'the connection tried again').toBe(true);
    jumpClock(JUMP);
    if (back) setTimeout(drop, 1_500);
    const result = await Promise.race([settled, pause(20_000).then(() => 'still waiting after 20 s')]);
    const elapsed = performance.now() - started;
    expect({ result, within20s: elapsed < 20_000 }).toEqual({ result: 'ok', within20s: true });
    if (back) {
      expect({ settings: await phone.store.get('settings'), done: events.at(-1) }).toMatchObject({ settings: { theme: 'dark' }, done: { phase: 'done', complete: true } });
    } else {
      expect({ afterTimeout: elapsed >= 2_500, done: events.at(-1), status: phone.sync.status }).toMatchObject({
        afterTimeout: true,
        done: { phase: 'done', complete: false },
        status: 'offline',
      });
    }
  });
});
