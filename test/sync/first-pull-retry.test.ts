/**
 * A new local-first device's first pull (README "Sync": a replica that has never synced "waits in ready() for its first
 * complete pull (bounded by initialSyncTimeout), so first reads on a new device see the user's data"). A transient
 * failure of that pull — a reset connection, a burst of 503s, a captive portal's HTML page — is retried with backoff
 * within `initialSyncTimeout`: ready() must not resolve at once with an empty replica (the app reads "absent", writes its
 * default, and that newer default replaces the user's data on the server). A permanent failure does not make ready()
 * wait the whole timeout, and close() ends the retries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClientOptions, type FeatError, type InitialSyncEvent } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';

const emu = useEmulator({ peruserDelayMs: 0 });
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(emu.couchUrl);
});
afterAll(async () => {
  await proxy.close();
});

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
