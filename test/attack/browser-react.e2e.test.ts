/**
 * Black-box attack, in real Chromium, on `@feat/sdk/react` (README "React"): a controlled input on `useValue` typed
 * fast, watched on a second device (another browser context: its own IndexedDB), and a component unmounted while its
 * `set` is pending. The page bundles React, `@feat/sdk` and `@feat/sdk/react` (esbuild, one bundle: one SDK instance).
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatClient } from '@feat/sdk';
import type { Emulator } from '@feat/emulator';
import { hasChromium, startHarness, warnIfNoChromium, type Harness } from '../support/chromium-harness.js';
import { optionsFor, readOnServer, until } from './browser-page.js';

warnIfNoChromium('the browser React attack tests');

const src = (path: string) => fileURLToPath(new URL(`../../src/${path}`, import.meta.url));

/** The app: an editor on `useValue('note')` that logs every value it committed to the screen. */
const PAGE = `<!doctype html><meta charset="utf-8"><div id="root"></div><script type="module">
import { feat, featReact, React, createRoot } from '/react.js';
const h = React.createElement;
self.committed = [];
self.errors = [];
addEventListener('error', (e) => self.errors.push(String(e.message)));
const consoleError = console.error;
console.error = (...args) => { self.errors.push(args.map(String).join(' ')); consoleError(...args); };
function Editor() {
  const note = featReact.useValue('note');
  self.setNote = note.set;
  React.useLayoutEffect(() => { if (note.status === 'ready') self.committed.push(note.value ?? ''); }, [note.value, note.status]);
  return h('textarea', {
    'data-testid': 'note',
    'data-status': note.status,
    value: note.value ?? '',
    onChange: (e) => { self.sets.push(note.set(e.target.value).then(() => 'ok', (err) => err.code)); },
  });
}
self.sets = [];
self.mount = async (options) => {
  const client = feat.createFeatClient(options);
  self.client = client;
  await client.ready();
  self.root = createRoot(document.getElementById('root'));
  self.show = (editor) => self.root.render(h(featReact.FeatProvider, { client }, editor ? h(Editor) : h('p', null, 'no editor')));
  self.show(true);
};
self.app = () => self;
self.loaded = true;
</script>`;

interface ReactApp {
  client: FeatClient;
  committed: string[];
  errors: string[];
  sets: Promise<string>[];
  setNote(value: string): Promise<void>;
  show(editor: boolean): void;
  mount(options: Record<string, unknown>): Promise<void>;
}
/** The page's own `app` (a function given to `page.evaluate` is serialized: it must name the page's globals). */
const app = () => self as unknown as ReactApp;

describe.skipIf(!hasChromium)('attack: @feat/sdk/react in Chromium', () => {
  let harness: Harness;
  let emu: Emulator;
  let origin: string;
  const run = Date.now().toString(36);

  beforeAll(async () => {
    const bundle = await build({
      stdin: {
        contents: [
          `export * as feat from ${JSON.stringify(src('index.ts'))};`,
          `export * as featReact from ${JSON.stringify(src('react/index.ts'))};`,
          `export * as React from 'react';`,
          `export { createRoot } from 'react-dom/client';`,
        ].join('\n'),
        resolveDir: fileURLToPath(new URL('.', import.meta.url)),
        loader: 'ts',
      },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      define: { 'process.env.NODE_ENV': '"development"' },
      write: false,
      logLevel: 'error',
    });
    harness = await startHarness({ '/': ['text/html', PAGE], '/react.js': ['text/javascript', bundle.outputFiles[0]!.text] });
    ({ emu, origin } = harness);
  }, 60_000);
  afterAll(() => harness?.stop());

  async function device(user: string, context?: BrowserContext): Promise<Page> {
    const page = await (context ?? (await harness.newContext())).newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (self as unknown as { loaded?: boolean }).loaded === true, undefined, { timeout: 15_000 });
    await page.evaluate((options) => app().mount(options), optionsFor(emu, user));
    await page.getByTestId('note').waitFor({ timeout: 15_000 });
    await until(async () => (await page.getByTestId('note').getAttribute('data-status')) === 'ready', 15_000, 'useValue ready');
    return page;
  }

  /** Every committed value is a prefix of `text`, and none is shorter than one committed before: no older value flashed. */
  function expectNeverOlder(committed: string[], text: string, where: string): void {
    const bad = committed.findIndex((v, i) => !text.startsWith(v) || (i > 0 && v.length < committed[i - 1]!.length));
    expect(bad, `${where}: committed ${JSON.stringify(committed[bad - 1])} then ${JSON.stringify(committed[bad])}`).toBe(-1);
  }

  it('200 characters typed fast into a useValue input: it shows each at once, never an older value, every set resolves; a second device ends on the text and never goes back', async () => {
    const user = `react-typing-${run}`;
    const laptop = await device(user);
    const phone = await device(user);
    const text = Array.from({ length: 200 }, (_, i) => 'abcdefghij klmnopqrstuvwxyz'[i % 27]).join('');
    // README "React": "set(value | (prev) => next) shows the new value at once and resolves when it is durable …; this
    // client's older writes never flash back while the feed catches up — safe for a controlled input".
    await laptop.getByTestId('note').pressSequentially(text, { delay: 0 });
    expect(await laptop.getByTestId('note').inputValue()).toBe(text);
    const results = await laptop.evaluate(() => Promise.all(app().sets));
    expect(results.length).toBe(200);
    expect(new Set(results)).toEqual(new Set(['ok']));
    await laptop.evaluate(() => app().client.sync.waitForPush({ timeout: 20_000 }));
    // A moment for late feed events to arrive and (wrongly) roll the input back.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await laptop.getByTestId('note').inputValue()).toBe(text);
    expectNeverOlder(await laptop.evaluate(() => app().committed), text, 'laptop');

    // README "React": useValue is "kept current with this device's and other devices' writes"; "Watch": "Events come in order".
    await until(async () => (await phone.getByTestId('note').inputValue()) === text, 20_000, 'the phone shows the text');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await phone.getByTestId('note').inputValue()).toBe(text);
    expectNeverOlder(await phone.evaluate(() => app().committed), text, 'phone');
    for (const page of [laptop, phone]) expect(await page.evaluate(() => app().errors)).toEqual([]);
  }, 90_000);

  it('a component unmounted while its set is pending: the write still resolves, is durable and reaches the server; no React error', async () => {
    const user = `react-unmount-${run}`;
    const page = await device(user);
    // README "React": set "resolves when it is durable"; API.md: set "resolves once durable".
    const outcome = await page.evaluate(() => {
      const pending = app().setNote('written, then unmounted');
      app().show(false);
      return pending.then(
        () => 'ok',
        (e: { code: string }) => e.code,
      );
    });
    expect(outcome).toBe('ok');
    expect(await page.evaluate(() => app().client.store.get('note'))).toBe('written, then unmounted');
    await page.evaluate(() => app().client.sync.waitForPush({ timeout: 10_000 }));
    expect(await readOnServer(emu, user, ['note'])).toEqual({ note: 'written, then unmounted' });
    // Mounted again: it shows the stored value.
    await page.evaluate(() => app().show(true));
    await until(async () => (await page.getByTestId('note').inputValue()) === 'written, then unmounted', 10_000, 'the remounted editor shows the value');
    expect(await page.evaluate(() => app().errors)).toEqual([]);
  }, 60_000);

  it('two tabs of one user on one useValue: typing in one shows up in the other, which never goes back', async () => {
    const user = `react-tabs-${run}`;
    const context = await harness.newContext();
    const first = await device(user, context);
    const second = await device(user, context);
    const text = 'typed in the first tab, read in the second';
    // README "Several tabs": "watch and the hooks report every change, whoever made it".
    await first.getByTestId('note').pressSequentially(text, { delay: 0 });
    await until(async () => (await second.getByTestId('note').inputValue()) === text, 15_000, 'the second tab shows the text');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await second.getByTestId('note').inputValue()).toBe(text);
    expectNeverOlder(await second.evaluate(() => app().committed), text, 'second tab');
    expectNeverOlder(await first.evaluate(() => app().committed), text, 'first tab');
  }, 60_000);
});
