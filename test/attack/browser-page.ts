/**
 * Black-box browser attack scaffolding: a page that loads the SDK (`/sdk.js`, bundled by the Chromium harness) and a
 * tiny "app" around one client (`start`), which records what the app can observe (status, error, conflict and pending
 * events, every watched change). Only the public entry points are used, in the page and in Node.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';

/** The page: `self.feat` (the SDK), `self.start(options)` (the app), `self.settled(ms)` (pending() back to 0). */
export const APP_PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import * as feat from '/sdk.js';
self.feat = feat;
self.app = () => self;
self.start = async (options) => {
  const client = feat.createFeatClient(options);
  const seen = { statuses: [], errors: [], conflicts: [], events: [], pending: [] };
  client.sync.on('status', (s) => seen.statuses.push(s));
  client.sync.on('error', (e) => seen.errors.push(e.code));
  client.sync.on('conflict', (c) => seen.conflicts.push({ key: c.key, source: c.source }));
  client.sync.on('pending', (n) => seen.pending.push(n));
  client.store.watch({ prefix: '' }, (e) => seen.events.push({ key: e.key, value: e.value, origin: e.origin, kind: e.kind }));
  self.client = client;
  self.seen = seen;
  const session = await client.ready();
  return { leader: client.sync.leader, session };
};
self.settled = async (ms) => {
  const deadline = Date.now() + ms;
  while ((await self.client.sync.pending()) > 0) {
    if (Date.now() > deadline) throw new Error('pending() stayed ' + (await self.client.sync.pending()) + ', status ' + self.client.sync.status);
    await new Promise((r) => setTimeout(r, 50));
  }
};
// A connection to a database that never closes by itself, not even when asked to (no versionchange handler): an app's
// own code, or a tab that does not answer. release() closes it and reports whether the database was listed while held
// and whether it is still listed up to 10 s after (waitGone, by default).
self.hold = (name) => new Promise((resolve, reject) => {
  const request = indexedDB.open(name);
  request.onerror = () => reject(request.error);
  request.onsuccess = () => {
    const listed = async () => (await indexedDB.databases()).some((d) => d.name === name);
    resolve({ async release(waitGone = true) {
      const listedWhileHeld = await listed();
      request.result.close();
      const deadline = Date.now() + (waitGone ? 10_000 : 0);
      while ((await listed()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return { listedWhileHeld, listedAfter: await listed() };
    } });
  };
});
// How a call settles within ms: 'resolved <value or "value">', 'rejected <code>' or 'still waiting after <ms> ms'.
self.settle = (call, ms) => Promise.race([
  call.then((v) => 'resolved ' + (typeof v === 'string' ? v : 'value'), (e) => 'rejected ' + e.code),
  new Promise((resolve) => setTimeout(() => resolve('still waiting after ' + ms + ' ms'), ms)),
]);
self.loaded = true;
</script>`;

export interface Seen {
  statuses: string[];
  errors: string[];
  conflicts: { key: string; source: string }[];
  events: { key: string; value: unknown; origin: string; kind: string }[];
  pending: number[];
}

/** The page's globals; `app` is the same function as the page's own (functions given to `page.evaluate` call the page's). */
export interface App {
  feat: { createFeatClient: typeof createFeatClient };
  client: FeatClient;
  seen: Seen;
  start(options: Record<string, unknown>): Promise<{ leader: boolean; session: { userName: string; dbName: string } }>;
  settled(ms: number): Promise<void>;
  hold(name: string): Promise<{ release(waitGone?: boolean): Promise<{ listedWhileHeld: boolean; listedAfter: boolean }> }>;
  settle(call: Promise<unknown>, ms: number): Promise<string>;
}
export const app = () => self as unknown as App;

/** Loads the page in `context` (a new tab), without starting a client. */
export async function load(context: BrowserContext, origin: string, page?: Page): Promise<Page> {
  const p = page ?? (await context.newPage());
  if (process.env.ATTACK_DEBUG) p.on('console', (m) => console.log(`[page] ${m.type()} ${m.text()}`));
  if (page) await p.reload();
  else await p.goto(`${origin}/`);
  await p.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 15_000 });
  return p;
}

/** The client options of `user` on `emu` (what the page's `start` takes). */
export const optionsFor = (emu: Emulator, user: string) => ({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user) });

/**
 * Opens a tab (or reloads `page`) and starts the app's client (`extra`: more client options, JSON only); resolves with
 * the page and `sync.leader`.
 */
export async function openApp(
  context: BrowserContext,
  origin: string,
  emu: Emulator,
  user: string,
  page?: Page,
  extra: Record<string, unknown> = {},
): Promise<{ page: Page; leader: boolean }> {
  const p = await load(context, origin, page);
  const { leader } = await p.evaluate((options) => app().start(options), { ...optionsFor(emu, user), ...extra });
  return { page: p, leader };
}

/** A fresh device of `user` (memory replica): `ready()` waits for its first pull. */
export async function readOnServer(emu: Emulator, user: string, keys: string[], timeout = 20_000): Promise<Record<string, unknown>> {
  const device = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'memory' } });
  const conflicts: string[] = [];
  device.sync.on('conflict', (c) => conflicts.push(`${c.key}/${c.source}`));
  try {
    await device.ready();
    await expect
      .poll(async () => (await Promise.all(keys.map((k) => device.store.get(k)))).filter((v) => v !== undefined).length, { timeout })
      .toBe(keys.length);
    const values = Object.fromEntries(await Promise.all(keys.map(async (k) => [k, await device.store.get(k)])));
    expect(conflicts, 'the server held conflicting revisions').toEqual([]);
    return values;
  } finally {
    await device.close();
  }
}

/** Polls `fn` every 25 ms until it returns true, for at most `ms`; resolves with the time it took, or rejects. */
export async function until(fn: () => Promise<boolean>, ms: number, what: string): Promise<number> {
  const start = Date.now();
  while (!(await fn())) {
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return Date.now() - start;
}
