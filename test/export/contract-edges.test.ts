/**
 * Export, import and maintenance edges a black-box attack found (both modes):
 * - `importData(blob)` with bytes that are not UTF-8 was `bad_response` ("Unexpected failure"); it is `invalid_argument`
 *   naming the line, before anything is written;
 * - `exportData`'s scan `total` grew while writes went on (docs/export.md: it does not change within a phase);
 * - the header's `counts.parts` counted every key holding a `:` (`a:100%` is a plain key);
 * - a `maintenance.run()` that joined a run started with a signal was aborted by that other caller's signal;
 * - `maintenance.pause()`/`resume()` after `close()` left an unhandled rejection (they return nothing).
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { expectCode, sleep, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const modes = [
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first', options: { mode: 'local-first', local: { adapter: 'memory' } } },
] as const;

function client(prefix: string, options: object, extra: Partial<FeatClientOptions> = {}): FeatClient {
  return emu.track(
    createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser(prefix)), maintenance: { enabled: false }, ...options, ...extra } as FeatClientOptions),
  );
}

const HEADER = (n: number) => JSON.stringify({ format: 'feat-export', version: 1, userName: 'x', dbName: 'y', exportedAt: new Date().toISOString(), counts: { keys: n, parts: 0 } });

describe.each(modes)('export, import and maintenance: $name', ({ options }) => {
  it('an import Blob with bytes that are not UTF-8 → invalid_argument naming the line; nothing written', async () => {
    const c = client('utf8', options);
    const good = new TextEncoder().encode(`${HEADER(2)}\n{"key":"a","value":1}\n{"key":"b","value":"`);
    const error = await expectCode(c.importData(new Blob([good, new Uint8Array([0xff, 0xfe, 0x22, 0x7d, 0x0a])])), 'invalid_argument');
    expect(error.message).toMatch(/line 3\b.*UTF-8/);
    expect(await c.store.keys()).toEqual([]);
  });

  it('export progress: total fixed within a phase, done never decreasing, while writes go on; counts.parts only parts', async () => {
    const c = client('progress', options);
    await Promise.all(Array.from({ length: 450 }, (_, i) => c.store.set(`p${String(i).padStart(4, '0')}`, i)));
    await c.store.set('a:100%', 'a plain key');
    await c.store.setParts('doc', { x: 1 });
    let stop = false;
    let n = 0;
    const writer = (async () => {
      while (!stop) await Promise.all(Array.from({ length: 20 }, () => c.store.set(`zz${n++}`, n)));
    })();
    const events: { phase: string; done: number; total: number }[] = [];
    let header: { counts: { keys: number; parts: number } };
    try {
      header = JSON.parse((await c.exportData({ onProgress: (e) => events.push({ ...e }) })).split('\n')[0]!) as typeof header;
    } finally {
      stop = true;
      await writer;
    }
    expect(n).toBeGreaterThan(0);
    for (const phase of ['scan', 'export']) expect(new Set(events.filter((e) => e.phase === phase).map((e) => e.total)).size, phase).toBe(1);
    for (let i = 1; i < events.length; i++) if (events[i]!.phase === events[i - 1]!.phase) expect(events[i]!.done).toBeGreaterThanOrEqual(events[i - 1]!.done);
    expect(events.at(-1)).toEqual({ phase: 'export', done: header.counts.keys, total: header.counts.keys });
    expect(header.counts.parts).toBe(1);
  }, 60_000);

  it('a run() joining a run started with a signal is not aborted by that signal', async () => {
    const c = client('join', options);
    for (let i = 0; i < 300; i++) void c.store.set(`t${i}`, i, { ttl: 1 });
    await c.store.flush();
    const controller = new AbortController();
    const first = c.maintenance.run({ signal: controller.signal });
    await sleep(0);
    const second = c.maintenance.run();
    controller.abort();
    await expectCode(first, 'aborted');
    const report = await second;
    expect(report.error).toBeUndefined();
    expect(await c.store.keys()).toEqual([]);
  });

  it('maintenance.pause()/resume() after close() do nothing and leave no unhandled rejection', async () => {
    const c = client('pause', options, { maintenance: { enabled: true } });
    await c.ready();
    const unhandled: unknown[] = [];
    const on = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', on);
    try {
      await c.close();
      c.maintenance.pause();
      c.maintenance.resume();
      await sleep(100);
    } finally {
      process.off('unhandledRejection', on);
    }
    expect(unhandled.map(String)).toEqual([]);
  });
});
