/**
 * What the Chromium e2e tests share: the SDK bundled by esbuild for the page (`/sdk.js`), served statically with the
 * test's own files, an emulator, and Debian's chromium driven by playwright-core.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { startEmulator, type Emulator } from '@feat/emulator';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

const ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage'];

/** Says loudly that `what` did not run (no Chromium). */
export function warnIfNoChromium(what: string): void {
  if (hasChromium) return;
  const line = '!'.repeat(100);
  console.warn(`\n${line}\n!!! E2E SKIPPED: no Chromium at ${CHROMIUM}: ${what} did NOT run.\n${line}\n`);
}

export interface Harness {
  emu: Emulator;
  browser: Browser;
  /** The static server's origin (`http://127.0.0.1:<port>`). */
  origin: string;
  /** A new browser context (one origin's storage), closed by `stop()`. */
  newContext(): Promise<BrowserContext>;
  stop(): Promise<void>;
}

/** Starts everything; `files` maps a path to [content type, body] (`/sdk.js` is added). */
export async function startHarness(files: Record<string, [string, string]>): Promise<Harness> {
  const [bundle, emu, browser] = await Promise.all([
    build({
      entryPoints: [fileURLToPath(new URL('../../src/index.ts', import.meta.url))],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'error',
    }),
    startEmulator({ port: 0 }),
    chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS }),
  ]);
  const served: Record<string, [string, string]> = { ...files, '/sdk.js': ['text/javascript', bundle.outputFiles[0]!.text] };
  const server = createServer((req, res) => {
    const file = served[req.url ?? ''];
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const contexts: BrowserContext[] = [];
  return {
    emu,
    browser,
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async newContext() {
      const context = await browser.newContext();
      contexts.push(context);
      return context;
    },
    async stop() {
      await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
      await browser.close();
      await emu.stop();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A harness for the tests of the enclosing `describe` (started before them, stopped after): its parts are read once
 * started (`h.emu`, `h.origin`, `h.harness.newContext()`).
 */
export function useHarness(files: Record<string, [string, string]>): { readonly harness: Harness; readonly emu: Emulator; readonly origin: string } {
  let started: Harness | undefined;
  beforeAll(async () => {
    started = await startHarness(files);
  }, 60_000);
  afterAll(() => started?.stop());
  const harness = (): Harness => {
    if (!started) throw new Error('the Chromium harness is not started: read it inside a test');
    return started;
  };
  return {
    get harness() {
      return harness();
    },
    get emu() {
      return harness().emu;
    },
    get origin() {
      return harness().origin;
    },
  };
}
