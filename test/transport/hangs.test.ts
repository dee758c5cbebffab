/**
 * Issue 20: no hangs. Servers that accept the connection and never answer (a real proxy in front of the emulator that
 * holds, swallows, resets or delays chosen requests — test/support/fault-proxy.ts): every call ends with `timeout`
 * within `requestTimeout`, close()/logout() settle and name the writes not confirmed, waitForPush's timeout and signals
 * hold while a token refresh hangs, and sync recovers by itself once the servers answer again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type FeatError } from '@feat/sdk';
import { useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { rejectsWith, uniqueName } from '../session/harness.js';

const emu = useEmulator({ peruserDelayMs: 0 });
let couch: FaultProxy;
let accounts: FaultProxy;
const clients: FeatClient[] = [];
const dirs: string[] = [];
beforeAll(async () => {
  couch = await startFaultProxy(emu.couchUrl);
  accounts = await startFaultProxy(emu.accountsUrl);
});
afterEach(async () => {
  couch.clear();
  accounts.clear();
  couch.release();
  accounts.release();
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await couch.close();
  await accounts.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A client whose CouchDB and accounts service are behind the fault proxies; with `own`, behind that test's own CouchDB
 * proxy, and closed by that test (a test that runs side by side with others: see `ownCouch`).
 */
function client(name: string, extra: Partial<FeatClientOptions> = {}, own?: OwnCouch): FeatClient {
  const c = createFeatClient({
    couchUrl: (own?.couch ?? couch).url,
    accountsUrl: accounts.url,
    auth: emu.bearerFor(name),
    local: { adapter: 'memory' },
    requestTimeout: 800,
    ...extra,
  });
  (own?.clients ?? clients).push(c);
  return c;
}

interface OwnCouch {
  couch: FaultProxy;
  clients: FeatClient[];
}
/**
 * The tests that wait out the live feed's heartbeat (10 s, a constant) run side by side: each has its own CouchDB proxy
 * (its faults, held requests, counts and log are its own) and closes its own clients, so that no other test's faults,
 * `afterEach` or release touch it. None of them faults the accounts service or rotates the secret.
 */
async function ownCouch(run: (own: OwnCouch) => Promise<void>): Promise<void> {
  const own: OwnCouch = { couch: await startFaultProxy(emu.couchUrl), clients: [] };
  try {
    await run(own);
  } finally {
    own.couch.clear();
    own.couch.release();
    await Promise.allSettled(own.clients.map((c) => c.close()));
    await own.couch.close();
  }
}

/** Elapsed ms of `promise` settling (it must settle). */
async function timed<T>(promise: Promise<T>): Promise<number> {
  const started = Date.now();
  await promise.catch(() => undefined);
  return Date.now() - started;
}

/**
 * `ready()` of a client with a short requestTimeout (500–800 ms, for the timings under test): on a loaded machine a
 * start-up request (the token, the first pull) may take longer than that, and a failed `ready()` can be called again.
 */
async function readyUnderLoad(c: FeatClient): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await c.ready();
      return;
    } catch (error) {
      if ((error as FeatError).code !== 'timeout' || attempt >= 5) throw error;
    }
  }
}

const all = () => true;
const bulkDocs = { method: 'POST', path: /\/_bulk_docs$/ };

describe('a silent server → timeout within requestTimeout', () => {
  it('silent accounts service: ready() rejects with timeout (remote and local-first)', async () => {
    accounts.fault(all, 'hold');
    for (const mode of ['remote', 'local-first'] as const) {
      const c = client(uniqueName('silent-acc'), { mode });
      const ms = await timed(rejectsWith(c.ready(), 'timeout'));
      expect(ms).toBeLessThan(5_000);
    }
  });

  it('silent CouchDB: ready() rejects with timeout', async () => {
    couch.fault(all, 'hold');
    const c = client(uniqueName('silent-couch'), { mode: 'remote' });
    const error = await rejectsWith(c.ready(), 'timeout');
    expect(error.message).toMatch(/requestTimeout/);
  });

  it('remote get and set on a CouchDB gone silent reject with timeout; the client works again once it answers', async () => {
    const c = client(uniqueName('silent-rw'), { mode: 'remote' });
    await c.ready();
    await c.store.set('k', 'v1');
    couch.fault(all, 'hold');
    await rejectsWith(c.store.get('k'), 'timeout');
    await rejectsWith(c.store.set('k', 'v2'), 'timeout');
    couch.clear();
    await c.store.set('k', 'v3');
    await expect(c.store.get('k')).resolves.toBe('v3');
  });

  it('the live feed keeps its heartbeat: a live pull outlives requestTimeout and still delivers', async () => {
    const name = uniqueName('longpoll');
    const reader = client(name, { requestTimeout: 500 });
    const writer = client(name, { mode: 'remote' });
    await reader.ready();
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // three limits with nothing to pull
    await writer.store.set('late', 1);
    await waitFor(async () => (await reader.store.get('late')) === 1, 10_000, 'the pull after a quiet long-poll');
    expect(reader.sync.status).not.toBe('offline');
  });
});

describe('close() and logout() with writes in flight', () => {
  it('remote: close() settles in bounded time and names the write the server never confirmed', async () => {
    const c = client(uniqueName('close-hang'), { mode: 'remote' });
    await c.ready();
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    couch.fault(bulkDocs, 'hold');
    const write = c.store.set('draft', 'text');
    write.catch(() => undefined);
    await waitFor(() => couch.held > 0, 5_000, 'the write to reach the proxy');
    const ms = await timed(c.close());
    expect(ms).toBeLessThan(5_000);
    await rejectsWith(write, 'timeout');
    expect(errors.map((e) => e.message).join('\n')).toMatch(/1 write\(s\).*not confirmed.*"draft"/);
  });

  it('remote: logout() settles in bounded time with a write in flight', async () => {
    const c = client(uniqueName('logout-hang'), { mode: 'remote' });
    await c.ready();
    couch.fault(bulkDocs, 'hold');
    const write = c.store.set('k', 1);
    write.catch(() => undefined);
    await waitFor(() => couch.held > 0, 5_000, 'the write to reach the proxy');
    expect(await timed(c.logout())).toBeLessThan(5_000);
  });
});

describe('waitForPush and signals while a token refresh hangs', () => {
  it('waitForPush({ timeout }) rejects on time; a signal aborts it; once the service answers the push completes', async () => {
    const name = uniqueName('refresh-hang');
    // A long requestTimeout: only waitForPush's own timeout may end the wait.
    const c = client(name, { requestTimeout: 30_000 });
    await c.ready();
    await c.store.set('a', 1);
    await c.sync.waitForPush({ timeout: 10_000 });
    accounts.fault({ path: /\/couchdb\/token\/$/ }, 'hold');
    emu.rotateSecret();
    await c.store.set('b', 2);
    let ms = await timed(rejectsWith(c.sync.waitForPush({ timeout: 1_000 }), 'timeout'));
    expect(ms).toBeLessThan(3_000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    ms = await timed(rejectsWith(c.sync.waitForPush({ signal: controller.signal }), 'aborted'));
    expect(ms).toBeLessThan(3_000);
    expect(accounts.held).toBeGreaterThan(0);
    // The service answers again; the held refresh is abandoned (reset) and tried again.
    accounts.clear();
    accounts.release();
    await c.sync.waitForPush({ timeout: 30_000 });
  });
});

describe('recovery once the servers answer again', () => {
  it('a swallowed push (applied, never answered) does not stall replication: later writes are pushed', async () => {
    const name = uniqueName('swallow');
    const c = client(name);
    await c.ready();
    couch.fault(bulkDocs, 'swallow', { times: 1 });
    await c.store.set('k', 'v');
    await waitFor(() => couch.counts.swallow > 0, 5_000, 'the push to be swallowed');
    await c.store.set('k2', 'v2');
    await c.sync.waitForPush({ timeout: 20_000 });
    const other = client(name, { mode: 'remote' });
    await expect(other.store.get('k')).resolves.toBe('v');
    await expect(other.store.get('k2')).resolves.toBe('v2');
  });

  it('a held push (never forwarded, never answered) is retried after requestTimeout', async () => {
    const name = uniqueName('held-push');
    const c = client(name);
    await c.ready();
    couch.fault(bulkDocs, 'hold', { times: 1 });
    await c.store.set('k', 'v');
    await c.sync.waitForPush({ timeout: 20_000 });
    expect(couch.counts.hold).toBeGreaterThanOrEqual(1);
    await expect(c.sync.pending()).resolves.toBe(0);
    const other = client(name, { mode: 'remote' });
    await expect(other.store.get('k')).resolves.toBe('v');
  });

  it('a push whose connection is reset (three times) is retried', async () => {
    const name = uniqueName('reset');
    const c = client(name);
    await c.ready();
    couch.fault(bulkDocs, 'reset', { times: 3 });
    await c.store.set('k', 'v');
    await c.sync.waitForPush({ timeout: 20_000 });
    const other = client(name, { mode: 'remote' });
    await expect(other.store.get('k')).resolves.toBe('v');
  });

  it('a hung token refresh is abandoned and retried: live sync recovers by itself', async () => {
    const name = uniqueName('refresh-retry');
    const c = client(name);
    await c.ready();
    accounts.fault({ path: /\/couchdb\/token\/$/ }, 'hold', { times: 1 });
    emu.rotateSecret();
    await c.store.set('k', 'after-rotation');
    await c.sync.waitForPush({ timeout: 20_000 });
    expect(accounts.counts.hold).toBeGreaterThanOrEqual(1);
    await waitFor(() => c.sync.status === 'idle', 10_000, 'idle');
  });

  it('a LevelDB replica reopened while the accounts service is silent connects by itself once it answers', async () => {
    const name = uniqueName('ldb-reopen');
    const dir = mkdtempSync(join(tmpdir(), 'feat-i20-'));
    dirs.push(dir);
    const local = { adapter: 'leveldb', name: join(dir, 'replica') };
    const first = client(name, { local });
    await first.ready();
    await first.store.set('k', 'v1');
    await first.sync.waitForPush({ timeout: 10_000 });
    await first.close();
    accounts.fault(all, 'hold');
    const again = client(name, { local });
    await again.ready(); // opens offline from what it remembers
    await again.store.set('k', 'v2');
    await waitFor(() => accounts.held > 0, 5_000, 'the token request to hang');
    accounts.clear();
    await again.sync.waitForPush({ timeout: 30_000 });
    await waitFor(() => again.sync.status === 'idle', 10_000, 'idle');
    const other = client(name, { mode: 'remote' });
    await expect(other.store.get('k')).resolves.toBe('v2');
  });

  /** The kinds of live feed requests the pull of `user` made (through `proxy`), in order. */
  const feedsOf = (user: string, proxy: FaultProxy) =>
    proxy.log
      .filter((r) => r.path.includes(`/userdb-${Buffer.from(user).toString('hex')}/_changes`) && /feed=(continuous|longpoll)/.test(r.url))
      .map((r) => (/feed=continuous/.test(r.url) ? 'stream' : 'poll'));

  describe.concurrent('side by side (each its own CouchDB proxy)', () => {
    // The live pull reads one streamed feed (`feed=continuous`): a request never answered (`hold`) and a stream that
    // goes silent after its headers (`stall`, e.g. a half-open connection) are both abandoned once neither data nor a
    // heartbeat came for heartbeat (10 s) + requestTimeout; the pull starts again and delivers.
    for (const action of ['hold', 'stall'] as const) {
      it(`a live pull feed that goes silent (${action}) is abandoned after its heartbeat + requestTimeout; the pull resumes`, () => ownCouch(async (own) => {
        const { couch } = own;
        const name = uniqueName(`silent-pull-${action}`);
        const live = (r: { path: string; url: string }) => r.path.endsWith('/_changes') && /feed=continuous/.test(r.url);
        couch.fault(live, action, { times: 1 });
        const reader = client(name, { requestTimeout: 500 }, own);
        const errors: FeatError[] = [];
        reader.sync.on('error', (e) => errors.push(e));
        await readyUnderLoad(reader);
        await waitFor(() => couch.held > 0, 15_000, 'the live feed to be held');
        // (The writer's requestTimeout is not under test: long enough for a loaded machine.)
        const writer = client(name, { mode: 'remote', requestTimeout: 10_000 }, own);
        const t0 = Date.now();
        await writer.store.set('late', 1);
        await waitFor(async () => (await reader.store.get('late')) === 1, 20_000, 'the pull after the silent feed');
        // It came by a new feed, not the silent one: long-polls for a while (a stream of which not a byte came may be a
        // proxy that buffers answers).
        expect(feedsOf(name, couch)).toEqual(expect.arrayContaining(['stream', 'poll']));
        expect(feedsOf(name, couch)[0]).toBe('stream');
        expect(Date.now() - t0).toBeLessThan(15_000);
        // Reported as what happened: no answer at all, or an answer that went silent.
        const timeouts = errors.filter((e) => e.code === 'timeout').map((e) => e.message);
        expect(timeouts.join('\n')).toMatch(action === 'hold' ? /No answer from .*_changes within 10500 ms/ : /The answer from .*_changes went silent for 10500 ms/);
      }), 40_000);
    }

    it('behind a proxy that buffers answers (a stream never comes), the pull falls back to long-polls and delivers', () => ownCouch(async (own) => {
      const { couch } = own;
      const name = uniqueName('buffering-proxy');
      const live = (r: { path: string; url: string }) => r.path.endsWith('/_changes') && /feed=(continuous|longpoll)/.test(r.url);
      // Every live feed request is buffered: a long-poll's answer passes (it ends), a stream's never does.
      couch.fault(live, 'buffer');
      const reader = client(name, { requestTimeout: 500 }, own);
      await readyUnderLoad(reader);
      // The write once the stream is asked for (its catch-up read before it, not buffered, would bring the value).
      await waitFor(() => feedsOf(name, couch).length > 0, 15_000, 'the live feed');
      const writer = client(name, { mode: 'remote', requestTimeout: 10_000 }, own);
      const t0 = Date.now();
      await writer.store.set('through-the-buffer', 1);
      await waitFor(async () => (await reader.store.get('through-the-buffer')) === 1, 25_000, 'the value through the buffering proxy');
      // The stream went silent past heartbeat (10 s) + requestTimeout; the pull then read long-polls.
      const feeds = feedsOf(name, couch);
      expect(feeds[0]).toBe('stream');
      expect(feeds).toContain('poll');
      expect(Date.now() - t0).toBeLessThan(20_000);
      // And it stays on long-polls: a later write comes through at once.
      const t1 = Date.now();
      await writer.store.set('next', 2);
      await waitFor(async () => (await reader.store.get('next')) === 2, 5_000, 'the next value by long-poll');
      expect(Date.now() - t1).toBeLessThan(5_000);
    }), 40_000);

    it('a stalled server (connections accepted, nothing answered) with an unpushed write: the status stays offline through every retry, then idle once it answers', () => ownCouch(async (own) => {
      const { couch } = own;
      const name = uniqueName('stalled-status');
      const c = client(name, {}, own);
      const statuses: string[] = [];
      c.sync.on('status', (status) => statuses.push(status));
      await c.ready();
      await c.store.set('k', 'v1');
      await c.sync.waitForPush({ timeout: 10_000 });
      await waitFor(() => c.sync.status === 'idle', 10_000, 'idle');
      // New requests are held (the live feed already open keeps going: its side stays idle).
      couch.fault(all, 'hold');
      await c.store.set('k', 'v2');
      await waitFor(() => c.sync.status === 'offline', 10_000, 'offline');
      const from = statuses.length;
      // Several push retries (backoff from 0.5 s, each held for requestTimeout): none of them is a transfer.
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      expect(couch.counts.hold).toBeGreaterThanOrEqual(3);
      expect(statuses.slice(from)).toEqual([]);
      couch.clear();
      couch.release();
      await waitFor(() => c.sync.status === 'idle', 20_000, 'idle again');
      await c.sync.waitForPush({ timeout: 10_000 });
      const other = client(name, { mode: 'remote' }, own);
      await expect(other.store.get('k')).resolves.toBe('v2');
    }), 60_000);
  });
});
