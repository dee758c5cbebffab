/**
 * The emulator as developers use it in their own setups (a black-box attack of the thirty-third session): a `dataDir`
 * given to two emulators of one process, a damaged `dataDir`, and `maxRequestRecords` kept exactly.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator } from '@feat/emulator';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
const tmp = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'feat-dev-use-'));
  dirs.push(dir);
  return dir;
};
/** Settles within `ms`, or fails naming what did not. */
const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))]);

describe('dataDir', () => {
  it('a second emulator of this process on a dataDir in use is refused, naming it; the first keeps serving, also after the refusal', async () => {
    const dir = await tmp();
    const first = await startEmulator({ port: 0, dataDir: dir, secret: 's' });
    try {
      expect(await first.createUser('dev-a')).toBe(true);
      // (Before: the second started, and its stop() closed the first one's LevelDB stores: the first hung.)
      await expect(startEmulator({ port: 0, dataDir: `${dir}${path.sep}`, secret: 's' })).rejects.toThrow(/dataDir ".*feat-dev-use-.*" is in use by another emulator of this process/);
      expect(await within(first.createUser('dev-b'), 5_000, 'the first emulator after the refusal')).toBe(true);
    } finally {
      await first.stop();
    }
    // Once stopped, the directory can be opened again, with its data.
    const again = await startEmulator({ port: 0, dataDir: dir, secret: 's' });
    try {
      expect(await again.createUser('dev-a')).toBe(false);
    } finally {
      await again.stop();
    }
  });

  it('a damaged dataDir: the start rejects promptly, naming the directory and saying what to do', async () => {
    const dir = await tmp();
    const first = await startEmulator({ port: 0, dataDir: dir, secret: 's' });
    await first.createUser('dev-damaged');
    await first.stop();
    let damaged = 0;
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && /^(CURRENT|MANIFEST-\d+)$/.test(entry.name)) {
        await writeFile(path.join(entry.parentPath, entry.name), 'garbage\u0000\u0001');
        damaged++;
      }
    }
    expect(damaged).toBeGreaterThan(0);
    const error = (await within(startEmulator({ port: 0, dataDir: dir, secret: 's' }).then(
      async (emu) => {
        await emu.stop();
        return undefined;
      },
      (e: unknown) => e as Error,
    ), 15_000, 'a start on a damaged dataDir'))!;
    expect(error?.message).toContain(`could not read its dataDir "${dir}"`);
    expect(error.message).toMatch(/Corruption|CURRENT/);
    expect(error.message).toMatch(/remove this one to start empty/);
    // Nothing left open: the same directory, emptied, starts.
    await rm(dir, { recursive: true, force: true });
    const fresh = await startEmulator({ port: 0, dataDir: dir, secret: 's' });
    await fresh.stop();
  });
});

describe('maxRequestRecords', () => {
  it.each([1, 3, 10])('%i: the newest ones are kept, exactly that many, after every request', async (max) => {
    const emu = await startEmulator({ port: 0, maxRequestRecords: max });
    try {
      const lengths: number[] = [];
      for (let i = 0; i < 3 * max + 5; i++) {
        await fetch(`${emu.couchUrl}/_up?i=${i}`).then((r) => r.text());
        await fetch(`${emu.couchUrl}/r${i}`).then((r) => r.text());
        lengths.push(emu.requests.length);
        expect(emu.requests.at(-1)?.path).toBe(`/r${i}`);
      }
      // (Before: a full log dropped a tenth more: 1 → 0 right after a request, 3 → 2, 10 → 9.)
      expect(lengths.slice(max)).toEqual(lengths.slice(max).map(() => max));
      expect(emu.stats().requests).toBe(2 * (3 * max + 5));
    } finally {
      await emu.stop();
    }
  });
});
