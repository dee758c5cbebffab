/**
 * A new local-first device's first pull (README "Sync": a replica that has never synced "waits in ready() for its first
 * complete pull (bounded by initialSyncTimeout), so first reads on a new device see the user's data"). A transient
 * failure of that pull — a reset connection, a burst of 503s, a captive portal's HTML page — is retried with backoff
 * within `initialSyncTimeout`: ready() must not resolve at once with an empty replica (the app reads "absent", writes its
 * default, and that newer default replaces the user's data on the server). A permanent failure does not make ready()
 * wait the whole timeout, and close() ends the retries. The same holds one step earlier, for the connection a replica
 * that has never completed its first pull makes before it (the `session` option, or a remembered session): one deadline
 * for both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions, type FeatError, type InitialSyncEvent } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { useFaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator({ peruserDelayMs: 0 });
const proxy = useFaultProxy(() => emu.couchUrl);

const CHANGES = { path: /\/_changes$/ };
const urlOf = (input: Parameters<typeof fetch>[0]) => (typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);

function make(user: string, extra: Partial<FeatClientOptions> = {}) {
  return emu.track(
    createFeatClient({
      couchUrl: proxy.url,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      local: { adapter: 'memory' },
      requestTimeout: 2_000,
      initialSyncTimeout: 10_000,
      ...extra,
    } as FeatClientOptions),
  );
}

/** Another device stored the user's settings. */
async function seed(user: string): Promise<void> {
  const laptop = make(user, { mode: 'remote' });
  await laptop.store.set('settings', { theme: 'dark' });
  await laptop.close();
}

/** A new device: how long ready() took, and the initialSync events it reported. */
async function newDevice(user: string, extra: Partial<FeatClientOptions> = {}) {
  const phone = make(user, extra);
  const events: InitialSyncEvent[] = [];
  const errors: FeatError[] = [];
  phone.sync.on('initialSync', (e) => events.push(e));
  phone.sync.on('error', (e) => errors.push(e));
  const t0 = Date.now();
  await phone.ready();
  return { phone, events, errors, readyMs: Date.now() - t0 };
}

describe("a new device's first pull retries a transient failure within initialSyncTimeout", () => {
  const blips: Record<string, () => Partial<FeatClientOptions>> = {
    'reset connections (two in a row)': () => {
      proxy.fault(CHANGES, 'reset', { times: 2 }); // the transport itself retries one reset
      return {};
    },
    'a burst of 503s': () => {
      proxy.fault(CHANGES, 'answer', { status: 503, times: 3, body: { error: 'service_unavailable', reason: 'overloaded' } });
      return {};
    },
    "a captive portal's HTML page (200)": () => {
      let left = 1;
      return {
        fetch: (input, init) =>
          /\/_changes(\?|$)/.test(urlOf(input)) && left-- > 0
            ? Promise.resolve(new Response('<html><title>Wi-Fi login</title></html>', { status: 200, headers: { 'content-type': 'text/html' } }))
            : fetch(input, init),
      };
    },
  };

  for (const [name, blip] of Object.entries(blips)) {
    it(`${name}: ready() delivers the user's data, and the app's "default if absent" does not replace it`, async () => {
      const user = uniqueUser('fpr');
      await seed(user);
      const { phone, events, readyMs } = await newDevice(user, blip());
      try {
        const seen = await phone.store.get('settings');
        // The app's first start on this device: its default where nothing is stored.
        if (seen === undefined) await phone.store.set('settings', { theme: 'light' });
        expect(seen, `the first read after ready() (${readyMs} ms)`).toEqual({ theme: 'dark' });
        expect(events.at(-1)).toMatchObject({ phase: 'done', complete: true });
      } finally {
        proxy.clear();
        await phone.close();
      }
      const check = make(user, { mode: 'remote' });
      expect(await check.store.get('settings')).toEqual({ theme: 'dark' });
      await check.close();
    });
  }
});

describe("a first pull that cannot complete", () => {
  it('a permanent failure (403 on _changes) is not retried: ready() does not wait the whole initialSyncTimeout', async () => {
    const user = uniqueUser('fpr');
    await seed(user);
    proxy.fault(CHANGES, 'answer', { status: 403, times: 1, body: { error: 'forbidden', reason: 'You are not allowed to access this db.' } });
    try {
      const { phone, events, errors, readyMs } = await newDevice(user, { initialSyncTimeout: 30_000 });
      expect(readyMs).toBeLessThan(15_000);
      expect(events.at(-1)).toMatchObject({ phase: 'done', complete: false });
      expect(errors.map((e) => e.code)).toContain('forbidden');
      await phone.close();
    } finally {
      proxy.clear();
    }
  });

  it('a failure that outlasts initialSyncTimeout: ready() resolves with what is local once it passes, and live sync catches up', async () => {
    const user = uniqueUser('fpr');
    await seed(user);
    proxy.fault(CHANGES, 'answer', { status: 503, body: { error: 'service_unavailable', reason: 'overloaded' } });
    let phone: ReturnType<typeof make> | undefined;
    try {
      const started = await newDevice(user, { initialSyncTimeout: 1_500 });
      phone = started.phone;
      // Retried until the deadline (more than one request), then given up: bounded.
      expect(proxy.counts.answer).toBeGreaterThan(1);
      expect(started.readyMs).toBeGreaterThanOrEqual(1_000);
      expect(started.readyMs).toBeLessThan(15_000);
      expect(started.events.at(-1)).toMatchObject({ phase: 'done', complete: false });
    } finally {
      proxy.clear();
    }
    const device = phone!;
    await waitFor(async () => (await device.store.get('settings')) !== undefined, 30_000, 'live sync to catch up');
    expect(await device.store.get('settings')).toEqual({ theme: 'dark' });
    await device.close();
  });

  it('close() during the retries ends ready() promptly', async () => {
    const user = uniqueUser('fpr');
    await seed(user);
    proxy.fault(CHANGES, 'answer', { status: 503, body: { error: 'service_unavailable', reason: 'overloaded' } });
    try {
      const phone = make(user, { initialSyncTimeout: 60_000 });
      const ready = phone.ready().then(
        () => 'resolved',
        (e: FeatError) => e.code,
      );
      const before = proxy.counts.answer;
      await waitFor(() => proxy.counts.answer > before, 20_000, 'the first pull to fail once');
      await sleep(100);
      const t0 = Date.now();
      await phone.close();
      const outcome = await ready;
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(['resolved', 'closed']).toContain(outcome);
    } finally {
      proxy.clear();
    }
  });
});

describe('a replica that never completed its first pull: its connection retries a transient failure within the same deadline', () => {
  const ALL = () => true;
  const sessionFor = (user: string, dbName: string) => ({ session: { dbName, headers: emu.couchHeadersFor(user), userName: user } });
  /** The user's database, known to another device. */
  async function seeded(user: string): Promise<string> {
    const laptop = make(user, { mode: 'remote' });
    await laptop.store.set('settings', { theme: 'dark' });
    const { dbName } = await laptop.ready();
    await laptop.close();
    return dbName;
  }

  it("a new device with the session option, two resets on its first request: ready() delivers the user's data, not an empty replica the app's default replaces", async () => {
    const user = uniqueUser('fpr');
    const dbName = await seeded(user);
    proxy.fault(ALL, 'reset', { times: 2 }); // the transport itself retries one reset
    let phone: ReturnType<typeof make> | undefined;
    try {
      const started = await newDevice(user, sessionFor(user, dbName));
      phone = started.phone;
      const seen = await phone.store.get('settings');
      // The app's first start on this device: its default where nothing is stored.
      if (seen === undefined) await phone.store.set('settings', { theme: 'light' });
      expect(seen, `the first read after ready() (${started.readyMs} ms)`).toEqual({ theme: 'dark' });
      expect(started.events.map((e) => e.phase).filter((p) => p !== 'progress')).toEqual(['start', 'done']);
      expect(started.events.at(-1)).toMatchObject({ phase: 'done', complete: true });
      expect(started.errors).toEqual([]);
    } finally {
      proxy.clear();
      await phone?.sync.waitForPush({ timeout: 10_000 }).catch(() => undefined);
      await phone?.close();
    }
    const check = make(user, { mode: 'remote' });
    expect(await check.store.get('settings')).toEqual({ theme: 'dark' });
    await check.close();
  });

  it('a leveldb replica whose first pull was cut short, restarted with two resets on its connection: ready() waits for the pull', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpr-'));
    const user = uniqueUser('fpr');
    await seed(user);
    const local = { adapter: 'leveldb', name: join(dir, 'replica') };
    try {
      // First start: the pull is not answered within initialSyncTimeout, so the replica stays "never synced".
      proxy.fault(CHANGES, 'hold');
      const first = make(user, { local, initialSyncTimeout: 500 });
      await first.ready();
      expect(await first.store.get('settings')).toBeUndefined();
      await first.close();
      proxy.clear();
      proxy.release();
      // Second start: the network blips.
      proxy.fault(ALL, 'reset', { times: 2 });
      const { phone, events, readyMs } = await newDevice(user, { local });
      const seen = await phone.store.get('settings');
      await phone.close();
      expect(seen, `the first read after ready() (${readyMs} ms)`).toEqual({ theme: 'dark' });
      expect(events.at(-1)).toMatchObject({ phase: 'done', complete: true });
    } finally {
      proxy.clear();
      proxy.release();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a server unreachable throughout: one deadline for the connection and the pull; done says complete: false; live sync catches up', async () => {
    const user = uniqueUser('fpr');
    const dbName = await seeded(user);
    proxy.fault(ALL, 'reset');
    let phone: ReturnType<typeof make> | undefined;
    try {
      const started = await newDevice(user, { ...sessionFor(user, dbName), initialSyncTimeout: 1_500 });
      phone = started.phone;
      // Tried again (more than the transport's own retry of one reset), then given up once the deadline passed.
      expect(proxy.counts.reset).toBeGreaterThan(2);
      expect(started.readyMs).toBeGreaterThanOrEqual(1_000);
      expect(started.readyMs).toBeLessThan(8_000);
      expect(started.events.map((e) => e.phase)).toEqual(['start', 'done']);
      expect(started.events[0]).toMatchObject({ timeoutMs: 1_500 });
      expect(started.events.at(-1)).toMatchObject({ phase: 'done', complete: false });
      expect(started.errors).toEqual([]);
      expect(phone.sync.status).toBe('offline');
    } finally {
      proxy.clear();
    }
    const device = phone!;
    await waitFor(async () => (await device.store.get('settings')) !== undefined, 30_000, 'live sync to catch up');
    expect(await device.store.get('settings')).toEqual({ theme: 'dark' });
    await device.close();
  });

  it('the connection made late: the pull has only what is left of the same deadline', async () => {
    const user = uniqueUser('fpr');
    const dbName = await seeded(user);
    const until = Date.now() + 60_000;
    let connected = false;
    // The connection fails for a while; then the pull is never answered.
    proxy.fault(() => !connected && Date.now() < until, 'reset');
    proxy.fault(CHANGES, 'hold');
    try {
      const phone = make(user, { ...sessionFor(user, dbName), initialSyncTimeout: 4_000 });
      const events: InitialSyncEvent[] = [];
      phone.sync.on('initialSync', (e) => events.push(e));
      const t0 = Date.now();
      const ready = phone.ready();
      await sleep(2_500);
      connected = true;
      await ready;
      const readyMs = Date.now() - t0;
      // Two deadlines would be 2.5 s + 4 s (+ the 2 s a cut pull has to save its checkpoint).
      expect(readyMs).toBeLessThan(6_300);
      expect(events.filter((e) => e.phase === 'start')).toHaveLength(1);
      const start = events[0]!;
      expect(start.startedAt + start.timeoutMs).toBeLessThan(t0 + 4_500);
      expect(events.at(-1)).toMatchObject({ phase: 'done', complete: false });
      await phone.close();
    } finally {
      proxy.clear();
      proxy.release();
    }
  });

  it('close() during the connection retries ends ready() promptly, and nothing is sent after', async () => {
    const user = uniqueUser('fpr');
    const dbName = await seeded(user);
    proxy.fault(ALL, 'reset');
    try {
      const phone = make(user, { ...sessionFor(user, dbName), initialSyncTimeout: 60_000 });
      const ready = phone.ready().then(
        () => 'resolved',
        (e: FeatError) => e.code,
      );
      await waitFor(() => proxy.counts.reset > 2, 20_000, 'the connection to be tried again');
      const t0 = Date.now();
      await phone.close();
      expect(['resolved', 'closed']).toContain(await ready);
      expect(Date.now() - t0).toBeLessThan(5_000);
      const from = proxy.log.length;
      await sleep(1_500);
      expect(proxy.log.slice(from).filter((r) => r.path.includes(dbName))).toEqual([]);
    } finally {
      proxy.clear();
    }
  });

  it('a refusal of the connection (401) is not retried: ready() rejects unauthorized at once', async () => {
    const user = uniqueUser('fpr');
    const dbName = await seeded(user);
    // Once: were it tried again, the second attempt would pass.
    proxy.fault(ALL, 'answer', { status: 401, times: 1, body: { error: 'unauthorized', reason: 'Name or password is incorrect.' } });
    try {
      const phone = make(user, { ...sessionFor(user, dbName), initialSyncTimeout: 30_000 });
      const t0 = Date.now();
      const outcome = await phone.ready().then(
        () => 'resolved',
        (e: FeatError) => e.code,
      );
      expect(outcome).toBe('unauthorized');
      expect(Date.now() - t0).toBeLessThan(5_000);
      await phone.close();
    } finally {
      proxy.clear();
    }
  });
});
