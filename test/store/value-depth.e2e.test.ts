/**
 * How deep a value may nest (README "Values"), in Chromium: a value 500 levels deep round-trips through both IndexedDB
 * adapters (read back after a reload, found by `find()`, pushed, pulled by a second device), in a page and in a Web
 * Worker — whose smaller stack is where deeper values first broke (src/store/validate.ts `MAX_DEPTH`); 501 levels are
 * refused with `invalid_value`. Node's replicas and remote mode: value-depth.test.ts.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { uniqueUser } from '../support/backend.js';
import { APP_PAGE, openApp, optionsFor, readOnServer, type App } from '../attack/browser-page.js';

warnIfNoChromium('the value depth browser tests');

const LIMIT = 500;

/** `nested(n)`: n levels, objects and arrays in turn; `arrays(n)`: arrays only (the most stack per level). */
const BUILDERS = `
self.nested = (levels, leaf = 'leaf') => { let v = [leaf]; for (let i = 1; i < levels; i++) v = i % 2 ? { a: v } : [v]; return v; };
self.arrays = (levels) => { let v = [1]; for (let i = 1; i < levels; i++) v = [v]; return v; };
self.same = (a, b) => JSON.stringify(a) === JSON.stringify(b);`;

/** A worker's run: start a client, write (and push) or read the deep values, answer what it saw. */
const WORKER = `
import * as feat from '/sdk.js';
${BUILDERS}
self.onmessage = async ({ data: { options, write, limit } }) => {
  const client = feat.createFeatClient(options);
  const errors = [];
  // (A connection failing for a moment under a loaded machine is not the value's doing: only other failures count.)
  client.sync.on('error', (e) => e.code === 'network' || e.code === 'timeout' || errors.push(e.code));
  const out = {};
  try {
    await client.ready();
    if (write) {
      await client.store.set('deep', nested(limit));
      await client.store.set('arrays', arrays(limit));
      out.over = await client.store.set('over', arrays(limit + 1)).then(() => 'stored', (e) => e.code);
      await client.sync.waitForPush({ timeout: 20000 });
    } else {
      const deadline = Date.now() + 20000;
      while ((await client.store.get('arrays')) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    }
    out.deep = same(await client.store.get('deep'), nested(limit));
    out.arrays = same(await client.store.get('arrays'), arrays(limit));
  } catch (error) {
    out.failed = String(error.code) + ' ' + String(error.message);
  } finally {
    await client.close();
  }
  out.errors = errors;
  self.postMessage(out);
};`;

/** The page's globals: the app (test/attack/browser-page.ts) and the builders above. */
type Page2 = App & { nested(levels: number, leaf?: string): unknown; arrays(levels: number): unknown; same(a: unknown, b: unknown): boolean };
const app = () => self as unknown as Page2;

describe.skipIf(!hasChromium)(`values ${LIMIT} levels deep, in Chromium`, () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;

  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', `${APP_PAGE}<script>${BUILDERS}</script>`], '/worker.js': ['text/javascript', WORKER] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  describe.each(['indexeddb', 'idb'])('%s', (adapter) => {
    it('round-trip through the replica (after a reload too), find() and a second device; one level more is invalid_value', async () => {
      const user = uniqueUser(`depth-${adapter}`);
      const ctx = await harness.newContext();
      const { page } = await openApp(ctx, origin, emu, user, undefined, { local: { adapter } });
      const written = await page.evaluate(async (limit) => {
        const { client, nested, arrays, same } = app();
        await client.store.set('deep', nested(limit));
        await client.store.set('arrays', arrays(limit));
        await client.store.setParts('todo', { x: { done: false, value: nested(limit - 1) }, y: { done: true, value: nested(limit - 1) } });
        const found = await client.store.find({ prefix: 'todo', selector: { done: false } });
        const over = await client.store.set('over', arrays(limit + 1)).then(
          () => 'stored',
          (e: { code: string; message: string }) => `${e.code} ${e.message}`,
        );
        await client.sync.waitForPush({ timeout: 20_000 });
        return {
          deep: same(await client.store.get('deep'), nested(limit)),
          arrays: same(await client.store.get('arrays'), arrays(limit)),
          found: found.map((r) => r.subkey),
          foundValue: same(found[0]?.value, { done: false, value: nested(limit - 1) }),
          over,
          errors: app().seen.errors,
        };
      }, LIMIT);
      expect(written).toEqual({ deep: true, arrays: true, found: ['x'], foundValue: true, over: expect.stringMatching(new RegExp(`^invalid_value The value of "over" is nested deeper than ${LIMIT} levels`)) as unknown, errors: [] });

      // Read from IndexedDB after a reload (no copy in memory).
      await page.evaluate(() => app().client.close());
      await openApp(ctx, origin, emu, user, page, { local: { adapter } });
      expect(await readBack(page)).toEqual({ deep: true, arrays: true, parts: true, errors: [] });

      // A second device: its first pull writes the values into its own IndexedDB.
      const other = await harness.newContext();
      const { page: second } = await openApp(other, origin, emu, user, undefined, { local: { adapter } });
      await expect.poll(() => second.evaluate(() => app().client.store.get('deep').then((v) => v !== undefined)), { timeout: 20_000 }).toBe(true);
      expect(await readBack(second)).toEqual({ deep: true, arrays: true, parts: true, errors: [] });
    }, 120_000);

    it('in a Web Worker (a smaller stack): written, pushed, and pulled by a worker of another device', async () => {
      const user = uniqueUser(`depth-worker-${adapter}`);
      const options = { ...optionsFor(emu, user), local: { adapter } };
      const writer = await runWorker(await harness.newContext(), { options, write: true, limit: LIMIT });
      expect(writer).toEqual({ over: 'invalid_value', deep: true, arrays: true, errors: [] });
      const onServer = await readOnServer(emu, user, ['deep', 'arrays']);
      expect(JSON.stringify(onServer.arrays)).toBe(`${'['.repeat(LIMIT)}1${']'.repeat(LIMIT)}`);
      const reader = await runWorker(await harness.newContext(), { options, write: false, limit: LIMIT });
      expect(reader).toEqual({ deep: true, arrays: true, errors: [] });
    }, 120_000);
  });

  /** What a page's client reads back of the first test's values. */
  function readBack(page: Page) {
    return page.evaluate(async (limit) => {
      const { client, nested, arrays, same } = app();
      return {
        deep: same(await client.store.get('deep'), nested(limit)),
        arrays: same(await client.store.get('arrays'), arrays(limit)),
        parts: same(await client.store.getParts('todo'), { x: { done: false, value: nested(limit - 1) }, y: { done: true, value: nested(limit - 1) } }),
        errors: app().seen.errors,
      };
    }, LIMIT);
  }

  /** Runs /worker.js once in a page of `context` and answers what it posted. */
  async function runWorker(context: BrowserContext, data: Record<string, unknown>): Promise<Record<string, unknown>> {
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 15_000 });
    return page.evaluate(
      (data) =>
        new Promise<Record<string, unknown>>((resolve) => {
          const worker = new Worker('/worker.js', { type: 'module' });
          worker.onmessage = (event) => {
            resolve(event.data as Record<string, unknown>);
            worker.terminate();
          };
          worker.onerror = (event) => resolve({ failed: `worker error: ${event.message}` });
          worker.postMessage(data);
        }),
      data,
    );
  }
});
