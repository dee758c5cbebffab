/**
 * TTL across devices and scheduled maintenance (purge of expired values, chunk GC, replica compaction) against the
 * emulator, in both modes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type FeatError, type MaintenanceReport } from '@feat/sdk';
import { sleep, uniqueUser as uniqueName, useEmulator, waitFor } from '../support/backend.js';

const emu = useEmulator();
const clients = { push: (c: FeatClient) => emu.track(c) };
const uniqueUser = () => uniqueName('maint');

/** The ids on the server (`_all_docs`: live documents only). */
async function serverIds(user: string): Promise<string[]> {
  // The test's own read: a 5xx of a loaded proxy is read again (once), anything else says what it got.
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${emu.couchUrl}/${userDbNameOf(user)}/_all_docs`, { headers: emu.couchHeadersFor(user) });
    if (res.status >= 500 && attempt === 0) continue;
    const body = await res.text();
    if (!res.ok) throw new Error(`_all_docs answered ${res.status}: ${body.slice(0, 200)}`);
    return (JSON.parse(body) as { rows: { id: string }[] }).rows.map((r) => r.id);
  }
}

function userDbNameOf(user: string): string {
  return `userdb-${[...Buffer.from(user, 'utf8')].map((b) => b.toString(16)).join('')}`;
}

const modes = [
  { name: 'remote', options: { mode: 'remote' }, local: false },
  { name: 'local-first (memory)', options: { mode: 'local-first', local: { adapter: 'memory' } }, local: true },
] as const;

describe.each(modes)('ttl and maintenance: $name', ({ options, local }) => {
  function client(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...options, ...extra } as FeatClientOptions);
    clients.push(c);
    return c;
  }
  /** Local-first: wait until the server has what this device wrote. */
  const pushed = (c: FeatClient) => c.sync.waitForPush({ timeout: 10_000 });

  it('a value with a ttl expires on a second device too; maintenance deletes it (server doc count down), keeps the rest', async () => {
    const user = uniqueUser();
    const a = client(user, { maintenance: { enabled: false } });
    const b = client(user, { maintenance: { enabled: false } });
    await Promise.all([a.ready(), b.ready()]);
    // Long enough for the second device to see the value before it expires, on a slow or loaded machine too.
    const ttl = 4_000;
    // (The ttl counts from the write, made between the call and set() resolving: expired `ttl` after `setAt` at the
    // latest, and purged — expired for as long again as it lived, from its stamp — `2 × ttl + took` after it.)
    const calledAt = Date.now();
    await a.store.set('draft', { text: 'half-typed' }, { ttl });
    const setAt = Date.now();
    const took = setAt - calledAt;
    await a.store.set('keep', 1);
    await a.store.set('later', 2, { ttl: 3_600_000 });
    if (local) await pushed(a);
    await waitFor(async () => (await b.store.keys()).length === 3, ttl - 500, 'the second device to see all three keys');
    expect(await b.store.keys()).toEqual(['draft', 'keep', 'later']);
    await sleep(Math.max(0, setAt + ttl + 50 - Date.now()));
    // Expired everywhere, with no maintenance run yet: reads and keys() on both devices.
    expect(await b.store.get('draft')).toBeUndefined();
    expect(await a.store.get('draft')).toBeUndefined();
    expect(await b.store.keys()).toEqual(['keep', 'later']);
    expect(await serverIds(user)).toContain('draft');

    // Maintenance deletes it only once expired for as long again as it was to live (clock skew between devices).
    expect((await a.maintenance.run()).purged).toBe(0);
    await sleep(Math.max(0, setAt + 2 * ttl + took + 50 - Date.now()));
    const reports: MaintenanceReport[] = [];
    a.maintenance.on('run', (r) => reports.push(r));
    const report = await a.maintenance.run();
    expect(report).toMatchObject({ purged: 1, compacted: local });
    expect(report.error).toBeUndefined();
    expect(reports).toEqual([report]);
    if (local) await pushed(a);
    await waitFor(async () => !(await serverIds(user)).includes('draft'), 10_000, 'the server to drop the purged document');
    expect(await serverIds(user)).toEqual(['keep', 'later']);
    // Nothing more to purge; the other device's run finds nothing either (or the same tombstone, already there).
    expect((await a.maintenance.run()).purged).toBe(0);
    expect((await b.maintenance.run()).purged).toBe(0);
    // The key can be written again after its purge, with no conflict.
    const conflicts: unknown[] = [];
    a.sync.on('conflict', (e) => conflicts.push(e));
    await a.store.set('draft', { text: 'again' });
    expect(await a.store.get('draft')).toEqual({ text: 'again' });
    expect(conflicts).toEqual([]);
  });

  it('a device whose clock runs ahead does not purge, for every device, a value the others still read: only once expired for as long again as its ttl', async () => {
    const user = uniqueUser();
    const a = client(user, { maintenance: { enabled: false } });
    await a.store.set('draft', 'x', { ttl: 60_000 });
    const now = Date.now.bind(Date);
    // This device's clock 90 s ahead: expired by 30 s for it, not for the writer.
    const ahead = vi.spyOn(Date, 'now').mockImplementation(() => now() + 90_000);
    try {
      expect((await a.maintenance.run()).purged).toBe(0);
    } finally {
      ahead.mockRestore();
    }
    expect(await a.store.get('draft')).toBe('x');
    const far = vi.spyOn(Date, 'now').mockImplementation(() => now() + 125_000);
    try {
      expect((await a.maintenance.run()).purged).toBe(1);
    } finally {
      far.mockRestore();
    }
  });

  it('a write made after the purge read the document wins: only the expired revision is deleted', async () => {
    const user = uniqueUser();
    const a = client(user, { maintenance: { enabled: false } });
    await a.store.set('x', 'old', { ttl: 50 });
    await sleep(130);
    // The run learns about x, then x is rewritten before its deletion would land: the new value stays.
    const run = a.maintenance.run();
    await a.store.set('x', 'new');
    await run;
    await a.maintenance.run();
    expect(await a.store.get('x')).toBe('new');
  });

  it('keeps the chunks of big values under any key (CJK, emoji, U+FFF0): their manifests are found, export lists them', async () => {
    // PouchDB's LevelDB-based adapters (memory, leveldb — and so the emulator) list no id past U+00FF in an _all_docs
    // range without an explicit end: a manifest under such a key was not seen, and GC deleted the chunks of a live value.
    const user = uniqueUser();
    const a = client(user, { maintenance: { enabled: false } });
    const big = (tag: string) => tag + 'x'.repeat(50_000) + 'y'.repeat(1_600_000);
    const keys = ['\u6587\u6863', '\u{1F4DD}draft', '\ufff0z', '\uffff\u{1F4DD}', 'plain'];
    for (const key of keys) await a.store.set(key, big(key));
    const report = await a.maintenance.run({ chunkGraceMs: 0 });
    expect(report.chunksDeleted).toBe(0);
    for (const key of keys) expect(await a.store.get(key)).toBe(big(key));
    const lines = (await a.exportData()).split('\n').slice(1, -1).map((l) => (JSON.parse(l) as { key: string }).key);
    expect(lines.sort()).toEqual([...keys].sort());
  });

  it('collects orphaned chunks (chunkGraceMs 0) and reports it', async () => {
    const user = uniqueUser();
    const a = client(user, { maintenance: { enabled: false } });
    await a.store.set('big', 'x'.repeat(50_000) + 'y'.repeat(2_000_000));
    await a.store.set('big', 'small now');
    const report = await a.maintenance.run({ chunkGraceMs: 0 });
    expect(report.chunksDeleted).toBeGreaterThan(0);
    if (local) await pushed(a);
    await waitFor(async () => !(await serverIds(user)).some((id) => id.startsWith('feat~chunk~')), 10_000, 'chunks gone on the server');
    expect(await a.store.get('big')).toBe('small now');
    await expect(a.maintenance.run({ chunkGraceMs: -1 })).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('runs on its schedule while idle, never twice at once, pauses and resumes, and stops with close()', async () => {
    const a = client(uniqueUser(), { maintenance: { intervalMs: 60 } });
    const reports: MaintenanceReport[] = [];
    a.maintenance.on('run', (r) => reports.push(r));
    await sleep(200);
    // Not ready yet: nothing runs (and nothing goes to the network).
    expect(reports).toEqual([]);
    await a.ready();
    await a.store.set('k', 1);
    await waitFor(() => reports.length >= 3, 10_000, 'three scheduled runs');
    for (let i = 1; i < reports.length; i++) expect(reports[i]!.startedAt).toBeGreaterThanOrEqual(reports[i - 1]!.startedAt + reports[i - 1]!.durationMs);
    expect(reports.every((r) => r.compacted === local && r.error === undefined)).toBe(true);
    // Concurrent requests share one run.
    const [r1, r2] = await Promise.all([a.maintenance.run(), a.maintenance.run()]);
    expect(r1).toBe(r2);

    a.maintenance.pause();
    await sleep(50);
    const paused = reports.length;
    await sleep(300);
    expect(reports.length).toBe(paused);
    a.maintenance.resume();
    await waitFor(() => reports.length >= paused + 2, 10_000, 'runs after resume');

    await a.close();
    const closed = reports.length;
    await sleep(300);
    expect(reports.length).toBe(closed);
    await expect(a.maintenance.run()).rejects.toMatchObject({ code: 'closed' });
  });

  it('disabled: no scheduled runs, run() still works; abort rejects with aborted; failures go to the error event', async () => {
    const user = uniqueUser();
    const a = client(user, { maintenance: { enabled: false, intervalMs: 30 } });
    const reports: MaintenanceReport[] = [];
    a.maintenance.on('run', (r) => reports.push(r));
    await a.ready();
    await sleep(200);
    expect(reports).toEqual([]);
    expect((await a.maintenance.run()).error).toBeUndefined();
    const aborted = new AbortController();
    aborted.abort();
    await expect(a.maintenance.run({ signal: aborted.signal })).rejects.toMatchObject({ code: 'aborted' });

    if (local) return;
    // Remote mode: the server gone → the run fails; its report carries the error.
    const errors: FeatError[] = [];
    a.sync.on('error', (e) => errors.push(e));
    await emu.suspend();
    try {
      await expect(a.maintenance.run()).rejects.toMatchObject({ code: 'network' });
    } finally {
      await emu.resume();
    }
    expect(reports.at(-1)!.error).toMatchObject({ code: 'network' });
  });
});

describe('scheduled failures', () => {
  it('a scheduled run that fails reports to the client error event', async () => {
    const user = uniqueUser();
    const c = createFeatClient({
      couchUrl: emu.couchUrl,
      accountsUrl: emu.accountsUrl,
      auth: emu.bearerFor(user),
      mode: 'remote',
      maintenance: { intervalMs: 50 },
      // The changes feed fails (a server bug): everything else works, so the client stays idle.
      fetch: (input, init) =>
        String(input instanceof Request ? input.url : input).includes('/_changes')
          ? Promise.resolve(new Response(JSON.stringify({ error: 'internal', reason: 'boom' }), { status: 500 }))
          : fetch(input, init),
    });
    clients.push(c);
    const errors: FeatError[] = [];
    c.sync.on('error', (e) => errors.push(e));
    await c.ready();
    await c.store.set('x', 1);
    await waitFor(() => errors.length > 0, 10_000, 'an error event');
    expect(errors[0]).toMatchObject({ code: 'server' });
    await c.close();
  });
});

describe('a leveldb replica (ids in code point order)', () => {
  it('lists every key and keeps the chunks of big values under any key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'feat-maint-'));
    try {
      const user = uniqueUser();
      const a = emu.track(
        createFeatClient({
          couchUrl: emu.couchUrl,
          accountsUrl: emu.accountsUrl,
          auth: emu.bearerFor(user),
          local: { adapter: 'leveldb', name: join(dir, 'replica') },
          maintenance: { enabled: false },
        }),
      );
      const big = (tag: string) => tag + 'x'.repeat(50_000) + 'y'.repeat(1_600_000);
      const keys = ['\u6587\u6863', '\u{1F4DD}draft', '\ufff0z', '\uffff\u{1F4DD}', '\ue000', 'plain'];
      for (const key of keys) await a.store.set(key, big(key));
      expect(await a.store.keys()).toEqual([...keys].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
      expect((await a.maintenance.run({ chunkGraceMs: 0 })).chunksDeleted).toBe(0);
      for (const key of keys) expect(await a.store.get(key)).toBe(big(key));
      const exported = (await a.exportData()).split('\n').slice(1, -1).map((l) => (JSON.parse(l) as { key: string }).key);
      expect(exported.sort()).toEqual([...keys].sort());
      await a.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
