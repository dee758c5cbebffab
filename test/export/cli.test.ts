/** `feat-emulator export`: a real process (tsx) against a running emulator and against a data directory. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, type ExportHeader } from '@feat/sdk';
import { startEmulator } from '@feat/emulator';
import { parseExportArgs, progressBar } from '../../src/export/cli.js';

const CLI = fileURLToPath(new URL('../../src/emulator/cli.ts', import.meta.url));
const SECRET = 'cli-export-secret';
type Emulator = Awaited<ReturnType<typeof startEmulator>>;

let emu: Emulator;
const dir = mkdtempSync(join(tmpdir(), 'feat-export-cli-'));
beforeAll(async () => {
  emu = await startEmulator({ port: 0, secret: SECRET });
});
afterAll(async () => {
  await emu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'export', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function seed(couchUrl: string, accountsUrl: string, bearer: string, n: number): Promise<string[]> {
  const c = createFeatClient({ couchUrl, accountsUrl, auth: bearer, mode: 'remote' });
  await Promise.all(Array.from({ length: n }, (_, i) => c.store.set(`cli-${String(i).padStart(3, '0')}`, { i })));
  await c.store.setParts('doc', { a: 1, b: 2 });
  const keys = await c.store.keys();
  await c.close();
  return keys;
}

describe('feat-emulator export', () => {
  it('parses its arguments and draws a progress bar', () => {
    expect(parseExportArgs(['--user', 'u', '--secret', 's'])).toMatchObject({ user: 'u', secret: 's', couchUrl: 'http://127.0.0.1:5984', progress: undefined });
    expect(() => parseExportArgs(['--secret', 's'])).toThrow(/--user/);
    expect(() => parseExportArgs(['--user', 'u'])).toThrow(/--data DIR, or/);
    expect(() => parseExportArgs(['--user', 'u', '--data', 'd', '--secret', 's'])).toThrow(/do not combine/);
    expect(progressBar({ phase: 'export', done: 30, total: 120 }, 8)).toBe('exporting [##......]  25%  30/120 keys');
  });

  it('exports a user from a running emulator to stdout, with a progress bar on stderr', async () => {
    const user = `cli-${Date.now().toString(36)}`;
    const keys = await seed(emu.couchUrl, emu.accountsUrl, emu.bearerFor(user), 120);
    const { code, stdout, stderr } = await run(['--user', user, '--couch-url', emu.couchUrl, '--secret', SECRET, '--progress']);
    expect(stderr).toMatch(/exporting \[#{24}\] 100% {2}122\/122 keys/);
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines.at(-1)).toBe('');
    const header = JSON.parse(lines[0]!) as ExportHeader;
    expect(header).toMatchObject({ format: 'feat-export', userName: user, counts: { keys: 122, parts: 2 } });
    expect(lines.slice(1, -1).map((l) => (JSON.parse(l) as { key: string }).key)).toEqual(keys);
    expect(stderr).toContain(`122 keys of "${user}"`);
  }, 30_000);

  it('exports from a data directory to --out (no bar when stderr is not a terminal); a wrong secret fails with exit 1', async () => {
    const data = join(dir, 'data');
    const user = 'disk-user';
    const onDisk = await startEmulator({ port: 0, dataDir: data });
    let keys: string[];
    try {
      keys = await seed(onDisk.couchUrl, onDisk.accountsUrl, onDisk.bearerFor(user), 10);
    } finally {
      await onDisk.stop();
    }
    const out = join(dir, 'out.ndjson');
    const ok = await run(['--user', user, '--data', data, '--out', out]);
    expect(ok.stderr).not.toContain('[');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('');
    const lines = readFileSync(out, 'utf8').split('\n');
    expect((JSON.parse(lines[0]!) as ExportHeader).counts.keys).toBe(12);
    expect(lines.slice(1, -1).map((l) => (JSON.parse(l) as { key: string }).key)).toEqual(keys);

    const denied = await run(['--user', user, '--couch-url', emu.couchUrl, '--secret', 'wrong', '--quiet']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/unauthorized|forbidden/);
    const usage = await run(['--couch-url', emu.couchUrl]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('Usage: feat-emulator export');
  }, 40_000);

  it('a user with no account (a mistyped name): exit 1 naming it, and no account made (a start of the SDK would sign it up)', async () => {
    const user = `cli-typo-${Date.now().toString(36)}`;
    const { code, stdout, stderr } = await run(['--user', user, '--couch-url', emu.couchUrl, '--secret', SECRET, '--quiet']);
    expect(stderr).toContain(`user "${user}" has no database here`);
    expect(stdout).toBe('');
    expect(code).toBe(1);
    // The account does not exist: creating it now makes it (before, the export had signed it up: `false`).
    expect(await emu.createUser(user)).toBe(true);
    const data = join(dir, 'typo-data');
    const onDisk = await startEmulator({ port: 0, dataDir: data });
    await onDisk.stop();
    const fromDisk = await run(['--user', user, '--data', data, '--quiet']);
    expect(fromDisk.stderr).toContain('has no database here');
    expect(fromDisk.code).toBe(1);
  }, 40_000);
});
