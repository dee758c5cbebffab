/**
 * `client.exportData` / `client.importData` against the emulator, in both modes: a round trip into another account,
 * progress, abort, malformed input, the streaming variant.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type ExportHeader, type FeatClient, type FeatClientOptions, type ProgressEvent } from '@feat/sdk';
import { text, uniqueUser as uniqueName, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const clients = { push: (c: FeatClient) => emu.track(c) };
const uniqueUser = () => uniqueName('export');

/** Phases in order, `total` fixed within a phase, `done` never decreasing and never above `total`. */
function expectMonotone(events: ProgressEvent[], phases: ProgressEvent['phase'][]): void {
  expect(events.length).toBeGreaterThan(0);
  expect([...new Set(events.map((e) => e.phase))]).toEqual(phases);
  for (let i = 1; i < events.length; i++) {
    const [a, b] = [events[i - 1]!, events[i]!];
    if (a.phase === b.phase) {
      expect(b.done).toBeGreaterThanOrEqual(a.done);
      expect(b.total).toBe(a.total);
    }
  }
  for (const e of events) expect(e.done).toBeLessThanOrEqual(e.total);
}

/** A signal that counts its listeners, to check that every one added is removed. */
function countingSignal(): { controller: AbortController; listeners: () => number } {
  const controller = new AbortController();
  let n = 0;
  const { signal } = controller;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, l: EventListener, o?: AddEventListenerOptions) => {
    n++;
    add(type, l, o);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, l: EventListener, o?: EventListenerOptions) => {
    n--;
    remove(type, l, o);
  }) as typeof signal.removeEventListener;
  return { controller, listeners: () => n };
}

const modes = [
  { name: 'remote', options: { mode: 'remote' } },
  { name: 'local-first (memory)', options: { mode: 'local-first', local: { adapter: 'memory' } } },
] as const;

describe.each(modes)('export/import: $name', ({ options }) => {
  function client(user: string, extra: Partial<FeatClientOptions> = {}): FeatClient {
    const c = createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), ...options, ...extra } as FeatClientOptions);
    clients.push(c);
    return c;
  }

  it('round-trips 300 keys, parts and a 9 MB value into another account: same keys(), same values; progress is monotone', async () => {
    const alice = client(uniqueUser());
    const big = text(9_000_000, 7);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) writes.push(alice.store.set(`k-${String(i).padStart(3, '0')}`, { i, name: `item ${i}`, tags: ['a', i % 2 ? 'odd' : 'even'] }));
    writes.push(alice.store.setParts('doc', { title: 'T', 'body:1': { text: 'hello' }, 'body:2': [1, 2, 3] }));
    writes.push(alice.store.set('big', big));
    writes.push(alice.store.set('str', 'a "quoted"\nline'), alice.store.set('n', 0), alice.store.set('nul', null), alice.store.set('later', 1, { ttl: 3_600_000 }));
    await Promise.all(writes);
    // Expired values and deleted keys are left out.
    await alice.store.set('gone', 1, { ttl: 1 });
    await alice.store.set('removed', 1);
    await alice.store.remove('removed');
    await new Promise((r) => setTimeout(r, 5));

    const exportEvents: ProgressEvent[] = [];
    const ndjson = await alice.exportData({ onProgress: (e) => exportEvents.push(e) });
    expectMonotone(exportEvents, ['scan', 'export']);
    const lines = ndjson.split('\n');
    expect(lines.at(-1)).toBe('');
    const header = JSON.parse(lines[0]!) as ExportHeader;
    const keys = await alice.store.keys();
    expect(header).toMatchObject({ format: 'feat-export', version: 1, userName: alice.session!.userName, dbName: alice.session!.dbName });
    expect(header.counts).toEqual({ keys: keys.length, parts: 3 });
    expect(new Date(header.exportedAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(lines.length).toBe(keys.length + 2);
    expect(exportEvents.at(-1)).toEqual({ phase: 'export', done: keys.length, total: keys.length });
    const entries = lines.slice(1, -1).map((l) => JSON.parse(l) as { key: string; updatedAt?: number; expiresAt?: number });
    expect(entries.map((e) => e.key)).toEqual(keys);
    expect(entries.find((e) => e.key === 'later')!.expiresAt).toBeGreaterThan(Date.now());
    expect(entries.every((e) => typeof e.updatedAt === 'number')).toBe(true);
    expect(ndjson).not.toContain('feat~');
    expect(ndjson).not.toContain('"gone"');
    expect(ndjson).not.toContain('"removed"');

    const bob = client(uniqueUser());
    const importEvents: ProgressEvent[] = [];
    const result = await bob.importData(ndjson, { onProgress: (e) => importEvents.push(e) });
    expect(result).toEqual({ imported: keys.length, skipped: 0 });
    expectMonotone(importEvents, ['validate', 'write']);
    expect(importEvents.at(-1)).toEqual({ phase: 'write', done: keys.length, total: keys.length });
    expect(await bob.store.keys()).toEqual(keys);
    expect(await bob.store.get('big')).toBe(big);
    expect(await bob.store.getParts('doc')).toEqual({ title: 'T', 'body:1': { text: 'hello' }, 'body:2': [1, 2, 3] });
    for (const key of ['k-000', 'k-150', 'k-299', 'str', 'n', 'nul', 'later']) expect(await bob.store.get(key)).toEqual(await alice.store.get(key));
    // Bob's own export holds the same lines (after the header: same keys and values; write times differ).
    // (An imported expiry is kept to within the few ms between the import's clock reading and the write's.)
    const strip = ({ updatedAt: _u, expiresAt, ...rest }: { key: string; updatedAt?: number; expiresAt?: number }) => ({
      ...rest,
      expires: expiresAt !== undefined,
    });
    const bobEntries = (await bob.exportData()).split('\n').slice(1, -1).map((l) => JSON.parse(l) as { key: string; expiresAt?: number });
    expect(bobEntries.map(strip)).toEqual(entries.map(strip));
    const expiry = (list: { key: string; expiresAt?: number }[]) => list.find((e) => e.key === 'later')!.expiresAt!;
    expect(Math.abs(expiry(bobEntries) - expiry(entries))).toBeLessThan(100);
    // Importing again is idempotent.
    await bob.importData(ndjson);
    expect(await bob.store.keys()).toEqual(keys);
  }, 60_000);

  it('streams: format "lines" yields the same lines; importData takes a Blob, an iterable and an async iterable', async () => {
    const alice = client(uniqueUser());
    await Promise.all(Array.from({ length: 30 }, (_, i) => alice.store.set(`s-${i}`, { i })));
    const text = await alice.exportData();
    const streamed: string[] = [];
    for await (const line of await alice.exportData({ format: 'lines' })) streamed.push(line);
    const withoutTime = (l: string) => l.replace(/"exportedAt":"[^"]+"/, '');
    expect(streamed.map(withoutTime)).toEqual(text.split('\n').slice(0, -1).map(withoutTime));

    const blobUser = client(uniqueUser());
    expect(await blobUser.importData(new Blob([text]))).toEqual({ imported: 30, skipped: 0 });
    const iterUser = client(uniqueUser());
    expect(await iterUser.importData(streamed)).toEqual({ imported: 30, skipped: 0 });
    const asyncUser = client(uniqueUser());
    async function* gen() {
      for (const line of streamed) yield `${line}\r\n`;
    }
    expect(await asyncUser.importData(gen())).toEqual({ imported: 30, skipped: 0 });
    for (const c of [blobUser, iterUser, asyncUser]) expect(await c.store.keys()).toEqual(await alice.store.keys());
  });

  it('garbage and truncated input → invalid_argument naming the line, and nothing is written', async () => {
    const alice = client(uniqueUser());
    await Promise.all(Array.from({ length: 250 }, (_, i) => alice.store.set(`g-${String(i).padStart(3, '0')}`, i)));
    const good = await alice.exportData();
    const lines = good.split('\n');
    const bob = client(uniqueUser());
    await bob.store.set('mine', 'kept');
    const cases: [string, string | RegExp][] = [
      ['', /line 1: the input is empty/],
      ['hello world\n', /line 1: the header is not valid JSON/],
      [JSON.stringify({ format: 'other', version: 1 }) + '\n', /line 1: not a feat export/],
      [lines[0]!.replace('"version":1', '"version":2') + '\n', /line 1: unsupported export version 2/],
      // Cut mid-line: the last line is not JSON.
      [good.slice(0, good.length - 7), /line 251: the line is not valid JSON.*truncated/],
      // Cut at a line break: fewer keys than announced.
      [lines.slice(0, 201).join('\n') + '\n', /line 202: the input ends after 200 of the 250 keys the header announces/],
      // Garbage in the middle (after 200 good lines: nothing of them is written).
      [[...lines.slice(0, 201), '{"key": 5, "value": 1}', ...lines.slice(202)].join('\n'), /line 202: The key must be a non-empty string/],
      [[...lines.slice(0, 150), '{"key":"_design/x","value":1}', ...lines.slice(151)].join('\n'), /line 151: .*starts with "_"/],
      [[...lines.slice(0, 150), '{"key":"nov"}', ...lines.slice(151)].join('\n'), /line 151: the line of "nov" has no "value"/],
      [[...lines.slice(0, 150), lines[3], ...lines.slice(151)].join('\n'), /line 151: the key "g-002" appears twice/],
      [[...lines, lines[1]!.replace('g-000', 'extra')].join('\n'), /more key lines than the 250/],
      ['[1,2]\n', /line 1: the header must be a JSON object/],
    ];
    for (const [input, message] of cases) {
      const attempt = bob.importData(input);
      await expect(attempt, String(message)).rejects.toMatchObject({ code: 'invalid_argument', name: 'FeatValidationError' });
      await expect(bob.importData(input)).rejects.toThrow(message);
    }
    expect(await bob.store.keys()).toEqual(['mine']);
    await expect(bob.importData(42 as never)).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(bob.importData(good, { onProgress: 'x' } as never)).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(bob.exportData({ format: 'xml' } as never)).rejects.toMatchObject({ code: 'invalid_argument' });
    // From a stream (read once), pages before the bad line are written, and the error says so.
    const bad = [...lines.slice(0, 201), 'not json', ...lines.slice(202)];
    await expect(bob.importData(bad)).rejects.toThrow(/line 202: the line is not valid JSON.*; 200 key\(s\) from the lines before it were written/);
    expect((await bob.store.keys()).length).toBe(201);
  });

  it('abort: export rejects with aborted; import aborted mid-way reports what it wrote; listeners are removed', async () => {
    const alice = client(uniqueUser());
    await Promise.all(Array.from({ length: 400 }, (_, i) => alice.store.set(`a-${String(i).padStart(3, '0')}`, { i, pad: 'x'.repeat(200) })));

    const exp = countingSignal();
    const exported = alice.exportData({ signal: exp.controller.signal, onProgress: (e) => e.phase === 'export' && e.done >= 100 && exp.controller.abort() });
    await expect(exported).rejects.toMatchObject({ code: 'aborted' });
    expect(exp.listeners()).toBe(0);
    const pre = new AbortController();
    pre.abort();
    await expect(alice.exportData({ signal: pre.signal })).rejects.toMatchObject({ code: 'aborted' });

    const ndjson = await alice.exportData();
    const bob = client(uniqueUser());
    // Aborted while validating: nothing written.
    const early = countingSignal();
    await expect(
      bob.importData(ndjson, { signal: early.controller.signal, onProgress: (e) => e.phase === 'validate' && e.done >= 100 && early.controller.abort() }),
    ).rejects.toThrow(/aborted; nothing was written/);
    expect(await bob.store.keys()).toEqual([]);
    expect(early.listeners()).toBe(0);

    // Aborted while writing: the error says how many keys were written, and that many are there.
    const late = countingSignal();
    const events: ProgressEvent[] = [];
    const error = await bob
      .importData(ndjson, {
        signal: late.controller.signal,
        onProgress: (e) => {
          events.push(e);
          if (e.phase === 'write' && e.done >= 200) late.controller.abort();
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e as Error & { code: string },
      );
    expect(error).toMatchObject({ code: 'aborted' });
    const written = Number(/(\d+) key\(s\) were written/.exec(error!.message)?.[1]);
    expect(written).toBeGreaterThanOrEqual(200);
    expect(written).toBeLessThan(400);
    expect((await bob.store.keys()).length).toBe(written);
    expect(late.listeners()).toBe(0);
    // Running it again completes the import.
    expect(await bob.importData(ndjson)).toEqual({ imported: 400, skipped: 0 });
    expect(await bob.store.keys()).toEqual(await alice.store.keys());
  });

  it('keeps expiry times: a value that expired since the export is skipped, the others keep their expiresAt', async () => {
    const alice = client(uniqueUser());
    // A TTL long enough that the export (several requests, on a slow or loaded server too) starts before it ends.
    const shortTtl = 3_000;
    await alice.store.set('short', 1, { ttl: shortTtl });
    // (The ttl counts from the write, made before set() resolved: expired `shortTtl` after this at the latest.)
    const setAt = Date.now();
    await alice.store.set('long', 2, { ttl: 3_600_000 });
    await alice.store.set('forever', 3);
    const ndjson = await alice.exportData();
    expect(ndjson, 'the short-lived value was exported while it lived').toContain('"short"');
    await new Promise((r) => setTimeout(r, Math.max(0, setAt + shortTtl + 50 - Date.now())));
    const bob = client(uniqueUser());
    expect(await bob.importData(ndjson)).toEqual({ imported: 2, skipped: 1 });
    expect(await bob.store.keys()).toEqual(['forever', 'long']);
    const line = (await bob.exportData()).split('\n').find((l) => l.includes('"long"'))!;
    const original = ndjson.split('\n').find((l) => l.includes('"long"'))!;
    const kept = (JSON.parse(line) as { expiresAt: number }).expiresAt;
    const exported = (JSON.parse(original) as { expiresAt: number }).expiresAt;
    expect(kept - exported).toBeGreaterThanOrEqual(0);
    expect(kept - exported).toBeLessThan(100);
  });
});
