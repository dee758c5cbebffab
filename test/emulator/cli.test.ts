/** The `feat-emulator` CLI: argument parsing, and a real process that prints its URLs and stops on SIGTERM. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseCli } from '../../src/emulator/cli.js';
import { call } from './helpers.js';

const CLI = fileURLToPath(new URL('../../src/emulator/cli.ts', import.meta.url));

describe('parseCli', () => {
  it('defaults: port 5984 (accounts/api derived: 5985/5986), logging on, demo user', () => {
    expect(parseCli([])).toEqual({ options: { port: 5984, log: true }, user: 'demo', help: false });
  });

  it('maps every flag to an option', () => {
    const { options, user } = parseCli([
      '--port', '0', '--accounts-port', '7001', '--api-port', '7002', '--host', '0.0.0.0', '--data', '/tmp/x',
      '--secret', 's', '--max-request-bytes', '0', '--max-document-bytes', '100', '--peruser-delay-ms', '5', '--user', 'bob', '--quiet',
      '--profile', 'couchdb', '--max-request-records', '7', '--peruser-admin-only-ms', '9',
    ]);
    expect(options).toEqual({
      port: 0, accountsPort: 7001, apiPort: 7002, host: '0.0.0.0', dataDir: '/tmp/x', secret: 's',
      maxRequestBytes: 0, maxDocumentBytes: 100, peruserDelayMs: 5, log: false, profile: 'couchdb', maxRequestRecords: 7, peruserAdminOnlyMs: 9,
    });
    expect(user).toBe('bob');
  });

  it('rejects unknown flags and bad numbers', () => {
    expect(() => parseCli(['--prot', '1'])).toThrow();
    expect(() => parseCli(['--port', 'abc'])).toThrow(/--port/);
    expect(() => parseCli(['--profile', 'couch'])).toThrow(/--profile must be one of fast, emulator, couchdb/);
  });

  it("takes --profile fast (API.md's name of the default profile)", () => {
    expect(parseCli(['--profile', 'fast']).options.profile).toBe('fast');
  });
});

describe('feat-emulator process', () => {
  it('prints the three URLs and a bearer, serves them, logs requests without secrets, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, '--port', '0', '--user', 'cli-user'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 20_000;
      while (!out.includes('Ctrl-C') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const accountsUrl = /accountsUrl:\s+(\S+)/.exec(out)?.[1];
      const bearer = /bearer for "cli-user": (Bearer \S+)/.exec(out)?.[1];
      expect(/couchUrl:\s+http:\/\/127\.0\.0\.1:\d+/.test(out)).toBe(true);
      expect(/apiUrl:\s+http:\/\/127\.0\.0\.1:\d+/.test(out)).toBe(true);
      expect(accountsUrl && bearer).toBeTruthy();
      const reply = await call(`${accountsUrl}/couchdb/token/`, { headers: { Authorization: bearer! } });
      expect(reply.status).toBe(200);
      const token = (reply.json as { data: { headers: Record<string, string> } }).data.headers['X-Auth-CouchDB-Token']!;
      await new Promise((r) => setTimeout(r, 100));
      expect(err).toContain('[accounts] GET /couchdb/token/ 200');
      expect(err).not.toContain(token);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(err).toContain('stopped');
  });
});
