/**
 * Chunk garbage collection while another tab of the same replica writes a big (chunked) value that reuses chunks the
 * collection is about to delete: the leader tab's pull writes the deletions, and the follower's write must not land
 * between its chunks' look-up and its manifest (util/chunk-lock.ts: the Web Lock `feat-chunks:<replica>`). Whatever
 * the order, the written value stays readable in every tab and on the server.
 * - 'the leader tab collects': maintenance.run in the leader tab (its deletions come back by its own pull).
 * - 'another device collects': a second device's maintenance deletes them on the server; the leader tab pulls that.
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH); skipped with a loud warning without it.
 */
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { APP_PAGE, openApp, optionsFor, readOnServer, type App } from '../attack/browser-page.js';

/** The page's `self` (a local name: page.evaluate runs the function's own text in the page). */
const app = () => self as unknown as App;

warnIfNoChromium('the chunk-GC-with-several-tabs browser tests');

const ROUNDS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Small documents: a value of 260 kB is a few hundred chunks. */
const MAX_DOC = 4096;

describe.skipIf(!hasChromium)('chunk GC while another tab writes a value reusing the collected chunks', () => {
  let harness: Harness;
  let emu: Emulator;
  const run = Date.now().toString(36);
  beforeAll(async () => {
    harness = await startHarness({ '/': ['text/html', APP_PAGE] });
    emu = harness.emu;
  }, 60_000);
  afterAll(() => harness?.stop());

  const tab = (context: BrowserContext, user: string) =>
    openApp(context, harness.origin, emu, user, undefined, { maxDocumentBytes: MAX_DOC, maintenance: { enabled: false } });

  /** Deterministic text of `n` characters (same seed, same text: same chunks). */
  const rnd = (n: number, seed: number) => {
    let s = seed;
    let out = '';
    while (out.length < n) {
      s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff;
      out += s.toString(36);
    }
    return out.slice(0, n);
  };

  for (const collector of ['the leader tab', 'another device'] as const)
    it(`${collector} collects: the follower's value stays readable, in both tabs and on the server`, async () => {
      const user = `chgc-${collector.split(' ')[0]}-${run}`;
      const context = await harness.newContext();
      const a = await tab(context, user);
      const b = await tab(context, user);
      expect(a.leader !== b.leader).toBe(true);
      const [leader, follower] = a.leader ? [a.page, b.page] : [b.page, a.page];
      const other = collector === 'another device' ? createFeatClient({ ...optionsFor(emu, user), maxDocumentBytes: MAX_DOC, maintenance: { enabled: false }, local: { adapter: 'memory' } }) : undefined;
      await other?.ready();
      const failures: string[] = [];
      try {
        for (let i = 0; i < ROUNDS; i++) {
          const old = rnd(60_000, 1000 + i);
          // A value whose chunks become unreferenced (set, then replaced by a small one), marked by a first collection
          // (grace 1e9 ms: nothing deleted).
          if (other) {
            await other.store.set('src', { old });
            await other.store.set('src', 'small');
            await other.sync.waitForPush({ timeout: 30_000 });
            await other.maintenance.run({ chunkGraceMs: 1e9 });
          } else {
            await leader.evaluate(async (old) => {
              const c = app().client;
              await c.store.set('src', { old });
              await c.sync.waitForPush({ timeout: 30_000 });
              await c.store.set('src', 'small');
              await c.sync.waitForPush({ timeout: 30_000 });
              await c.maintenance.run({ chunkGraceMs: 1e9 });
            }, old);
          }
          // The tabs have the old chunks.
          await follower.evaluate(() => app().settled(30_000));
          await sleep(1500);
          // The follower writes a value starting with the same text (its chunks reused) plus a long new tail, while the
          // chunks are collected.
          const value = { old, tail: rnd(200_000, 5000 + i) };
          const write = follower.evaluate(async ({ i, value }) => {
            await app().client.store.set(`dst${i}`, value);
          }, { i, value });
          await sleep(i * 25);
          if (other) await other.maintenance.run({ chunkGraceMs: 1000 });
          else await leader.evaluate(() => app().client.maintenance.run({ chunkGraceMs: 1000 }));
          await write;
          // The value on the server, whole (read by a new device: every chunk). Not the follower's waitForPush(): with
          // another device collecting, it timed out now and then with status idle, waiting for reused chunks' revisions
          // (ci63, ci64 — an open defect of waitForPush across tabs, recorded in docs/reliability.md "What remains").
          const onServer = (await readOnServer(emu, user, [`dst${i}`], 30_000))[`dst${i}`] as { old?: string; tail?: string };
          if (onServer.old?.length !== 60_000 || onServer.tail?.length !== 200_000) failures.push(`round ${i}: the server's dst${i} is not whole`);
          await sleep(300);
          for (const [name, page] of [['follower', follower], ['leader', leader]] as const) {
            const got = await page.evaluate(async (i) => {
              try {
                const v = (await app().client.store.get(`dst${i}`)) as { old: string; tail: string } | undefined;
                return v ? `ok ${v.old.length}/${v.tail.length}` : 'undefined';
              } catch (e) {
                return `rejected ${(e as { code?: string }).code}: ${(e as Error).message}`;
              }
            }, i);
            if (got !== 'ok 60000/200000') failures.push(`round ${i}: ${name} get(dst${i}) → ${got}`);
          }
        }
      } finally {
        await other?.close();
      }
      let server = 'ok';
      try {
        const values = await readOnServer(emu, user, Array.from({ length: ROUNDS }, (_, i) => `dst${i}`), 20_000);
        if (!Object.values(values).every((v) => (v as { tail: string }).tail.length === 200_000)) server = 'wrong values';
      } catch (e) {
        server = `failed: ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`;
      }
      expect({ failures, server }).toEqual({ failures: [], server: 'ok' });
    }, 240_000);
});
