/**
 * The react-redux example (examples/react-redux) in real Chromium: built with Vite (no polyfill configuration),
 * served statically, synced through the emulator. Two isolated browser contexts are two devices of one user.
 *
 * Needs Debian's `chromium` (/usr/bin/chromium, or CHROMIUM_PATH) driven by playwright-core. Without it the suite is
 * skipped with a loud warning; `.ci/run` installs it.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExample, type RunningExample } from '../../examples/react-redux/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);

if (!hasChromium) {
  const line = '!'.repeat(100);
  console.warn(
    `\n${line}\n!!! E2E SKIPPED: no Chromium at ${CHROMIUM}.\n` +
      `!!! The browser test of examples/react-redux did NOT run. Install it: apt-get install -y chromium\n` +
      `!!! (or set CHROMIUM_PATH to a Chromium binary).\n${line}\n`,
  );
}

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

const WAIT = 15_000;

describe.skipIf(!hasChromium)('react-redux example in Chromium', () => {
  let example: RunningExample;
  let browser: Browser;
  let outDir: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'feat-e2e-'));
    [example, browser] = await Promise.all([
      startExample({ mode: 'build', port: 0, emulatorPort: 0, outDir: join(outDir, 'dist') }),
      chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS }),
    ]);
    const { totalJs } = example.build!;
    console.log(`example build: ${(totalJs.bytes / 1024).toFixed(1)} kB JS up front, ${(totalJs.gzip / 1024).toFixed(1)} kB gzipped`);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
    await browser?.close();
    await example?.close();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  /** A device: its own browser context (own IndexedDB, like another machine), with the editor open. */
  /** Users of this run only: a real server keeps the users (and drafts) of earlier runs. */
  const run = `${process.pid}-${Date.now().toString(36)}`;
  async function device(person: string, name: string): Promise<Page> {
    const user = `${person}-${run}`;
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(example.deviceUrl(user, name));
    await page.getByTestId('editor').waitFor({ timeout: WAIT }).catch((error: unknown) => {
      throw new Error(`${name}: the editor did not open (${errors.join('; ') || String(error)})`);
    });
    await expectStatus(page, 'idle').catch(async (error: unknown) => {
      const why = await page.getByTestId('status-line').textContent();
      throw new Error(`${name}: sync did not become idle: "${why}" ${errors.join('; ')}`, { cause: error });
    });
    return page;
  }

  const expectStatus = (page: Page, status: string) => expect.poll(() => page.getByTestId('sync-status').textContent(), { timeout: WAIT }).toBe(status);
  const settled = async (page: Page) => {
    await expectStatus(page, 'idle');
    await expect.poll(() => page.getByTestId('pending').textContent(), { timeout: WAIT }).toBe('0');
  };
  /** Everything the page's redux state holds is durable in its local replica (IndexedDB). */
  const savedLocally = (page: Page) =>
    expect.poll(() => page.getByTestId('saved').getAttribute('data-saved'), { timeout: WAIT }).toBe('true');
  const body = (page: Page) => page.getByTestId('body').inputValue();
  const title = (page: Page) => page.getByTestId('title').inputValue();
  const theme = (page: Page) => page.getByTestId('theme').inputValue();

  it('typing on one device shows up on the other, and preferences too', async () => {
    const laptop = await device('alice', 'laptop');
    const phone = await device('alice', 'phone');

    await laptop.getByTestId('title').fill('Offline first');
    await laptop.getByTestId('body').pressSequentially('Written on the laptop.', { delay: 5 });
    await expect.poll(() => body(phone), { timeout: WAIT }).toBe('Written on the laptop.');
    expect(await title(phone)).toBe('Offline first');
    expect(await phone.getByTestId('edited').textContent()).toContain('on laptop');

    await phone.getByTestId('theme').selectOption('dark');
    await expect.poll(() => theme(laptop), { timeout: WAIT }).toBe('dark');
    await phone.getByTestId('body').press('End');
    await phone.getByTestId('body').pressSequentially(' And on the phone.', { delay: 5 });
    await expect.poll(() => body(laptop), { timeout: WAIT }).toBe('Written on the laptop. And on the phone.');
    // Neither device's preference change nor its draft came back to it as an echo that changed anything.
    expect(await theme(phone)).toBe('dark');
    await Promise.all([settled(laptop), settled(phone)]);
  });

  it('React hooks: a note typed on one device appears in the other; the offline indicator and pending follow the network', async () => {
    const laptop = await device('dave', 'laptop');
    const phone = await device('dave', 'phone');
    const note = (page: Page) => page.getByTestId('note').inputValue();
    const pending = (page: Page) => page.getByTestId('pending').textContent();
    await expect.poll(() => laptop.getByTestId('note').getAttribute('data-status'), { timeout: WAIT }).toBe('ready');
    await laptop.getByTestId('note').pressSequentially('Hello from the laptop', { delay: 5 });
    // useValue shows what is typed at once, and never an older value of its own on the way.
    expect(await note(laptop)).toBe('Hello from the laptop');
    await expect.poll(() => note(phone), { timeout: WAIT }).toBe('Hello from the laptop');
    await Promise.all([settled(laptop), settled(phone)]);
    expect(await laptop.getByTestId('offline').count()).toBe(0);

    await example.emulator.suspend();
    try {
      await laptop.getByTestId('note').press('End');
      await laptop.getByTestId('note').pressSequentially(', typed offline', { delay: 5 });
      await expectStatus(laptop, 'offline');
      await laptop.getByTestId('offline').waitFor({ timeout: WAIT });
      // usePending: the count rises from the pending event alone (the example no longer polls).
      await expect.poll(async () => Number(await pending(laptop)), { timeout: WAIT }).toBeGreaterThan(0);
      expect(await note(phone)).toBe('Hello from the laptop');
    } finally {
      await example.emulator.resume();
    }

    await expect.poll(() => note(phone), { timeout: WAIT }).toBe('Hello from the laptop, typed offline');
    await Promise.all([settled(laptop), settled(phone)]);
    expect(await laptop.getByTestId('offline').count()).toBe(0);
    // The other direction, while the laptop shows it live.
    await phone.getByTestId('note').fill('Rewritten on the phone');
    await expect.poll(() => note(laptop), { timeout: WAIT }).toBe('Rewritten on the phone');
  });

  it('a reload restores the draft', async () => {
    const laptop = await device('bob', 'laptop');
    await laptop.getByTestId('title').fill('Reload me');
    await laptop.getByTestId('body').pressSequentially('Typed, then the page reloads.', { delay: 5 });
    await savedLocally(laptop);
    await laptop.reload();
    await laptop.getByTestId('editor').waitFor({ timeout: WAIT });
    expect(await title(laptop)).toBe('Reload me');
    expect(await body(laptop)).toBe('Typed, then the page reloads.');
  });

  it('going offline (emulator suspended) and back loses nothing; both devices converge', async () => {
    const laptop = await device('carol', 'laptop');
    const phone = await device('carol', 'phone');
    await laptop.getByTestId('body').fill('Before the outage.');
    await expect.poll(() => body(phone), { timeout: WAIT }).toBe('Before the outage.');
    await Promise.all([settled(laptop), settled(phone)]);

    await example.emulator.suspend();
    try {
      await laptop.getByTestId('body').press('End');
      await laptop.getByTestId('body').pressSequentially(' Typed offline on the laptop.', { delay: 5 });
      await phone.getByTestId('theme').selectOption('dark');
      await phone.getByTestId('font-size').selectOption('18');
      await expectStatus(laptop, 'offline');
      await expect.poll(() => laptop.getByTestId('pending').textContent(), { timeout: WAIT }).not.toBe('0');
      // Still offline: a reload starts from the local replica, with what was typed offline.
      await savedLocally(laptop);
      await laptop.reload();
      await laptop.getByTestId('editor').waitFor({ timeout: WAIT });
      expect(await body(laptop)).toBe('Before the outage. Typed offline on the laptop.');
      expect(await body(phone)).toBe('Before the outage.');
    } finally {
      await example.emulator.resume();
    }

    await expect.poll(() => body(phone), { timeout: WAIT }).toBe('Before the outage. Typed offline on the laptop.');
    await expect.poll(() => theme(laptop), { timeout: WAIT }).toBe('dark');
    await expect.poll(() => laptop.getByTestId('font-size').inputValue(), { timeout: WAIT }).toBe('18');
    await Promise.all([settled(laptop), settled(phone)]);
    expect(await body(laptop)).toBe(await body(phone));
    expect(await theme(phone)).toBe('dark');
  });
});
