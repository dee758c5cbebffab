/**
 * A LevelDB replica another process has open (a second Node process of the app, a CLI run beside a server): LevelDB's
 * lock refuses the open at once. That is the device's replica being busy, not a malformed server answer: `timeout`
 * (as for an IndexedDB replica another connection holds), saying what to do; once the other process is gone, it opens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createFeatClient, isFeatError } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const dir = mkdtempSync(join(tmpdir(), 'feat-lock-'));
let holder: ChildProcess | undefined;
afterAll(() => {
  holder?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Another process holding LevelDB's lock on `path` until killed. */
function hold(path: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', `require('leveldown')(${JSON.stringify(path)}).open((e) => { console.log(e ? 'failed ' + e.message : 'held'); setInterval(() => {}, 1000); })`], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => (String(d).startsWith('held') ? resolve(child) : reject(new Error(String(d)))));
    child.on('exit', (code) => reject(new Error(`holder exited ${code}`)));
  });
}

it('a replica another process holds: ready() rejects timeout at once, naming the other process; it opens once that process is gone', async () => {
  const user = uniqueUser('lock');
  const name = join(dir, 'replica');
  const options = { couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), local: { adapter: 'leveldb' as const, name } };
  // The replica made once (PouchDB's LevelDB store is the directory named after it).
  const first = createFeatClient(options);
  await first.ready();
  await first.store.set('k', 'kept');
  await first.close();

  holder = await hold(name);
  const second = createFeatClient(options);
  const t0 = Date.now();
  const error = await second.ready().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFeatError(error) ? `${error.code}: ${error.message}` : String(error)).toMatch(/^timeout: The local replica ".*" is open in another process/);
  expect(Date.now() - t0).toBeLessThan(5_000);
  // A wait on this device, not the server's: `error`, not `offline` (README, the status table).
  expect(second.sync.status).toBe('error');
  await second.close();

  holder.kill('SIGKILL');
  await new Promise((r) => holder!.once('exit', r));
  const third = createFeatClient(options);
  await third.ready();
  expect(await third.store.get('k')).toBe('kept');
  await third.close();
}, 60_000);
