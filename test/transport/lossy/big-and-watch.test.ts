/**
 * Remote mode over a lossy link: a big (chunked) value whose chunk or manifest request's answer is lost; `watch`
 * while the changes feed's connection is cut again and again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text, uniqueUser, useEmulator } from '../../support/backend.js';
import { startFaultProxy, type FaultAction, type FaultProxy, type FaultRequest } from '../../support/fault-proxy.js';
import { rawDb, remoteVia, settle } from './helpers.js';

const emu = useEmulator();
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(emu.couchUrl);
});
afterAll(() => proxy.close());

// inline limit: min(maxDocumentBytes, maxRequestBytes) − 64 KiB → 64 KiB with maxRequestBytes 128 KiB
const opts = { maxRequestBytes: 131_072, requestTimeout: 2_000 };
const bulk = (r: FaultRequest) => r.method === 'POST' && r.path.endsWith('/_bulk_docs');

/** Every manifest on the server names chunks that are all there (live). */
async function checkManifests(user: string): Promise<string[]> {
  const raw = await rawDb(emu, user);
  const docs = await raw.all();
  const ids = new Set(docs.filter((d) => d && !d._deleted).map((d) => d._id));
  const bad: string[] = [];
  for (const d of docs) {
    const chunks = d?.feat?.chunks as unknown[] | undefined;
    if (!chunks) continue;
    for (const c of chunks) {
      const id = typeof c === 'string' ? c : ((c as { id?: string; h?: string }).id ?? `feat~chunk~${(c as { h?: string }).h}`);
      if (typeof id === 'string' && id.startsWith('feat~chunk~') && !ids.has(id)) bad.push(`${d._id} → missing ${id}`);
    }
  }
  if (!docs.some((d) => d?.feat?.chunks)) bad.push(`no manifest found: ${JSON.stringify(docs.map((d) => Object.keys(d?.feat ?? {})))}`);
  if (process.env.ZZ_DUMP) console.log(JSON.stringify(docs.find((d) => d?.feat?.chunks)?.feat).slice(0, 300));
  return bad;
}

describe.each([
  ['first chunk request', 'swallow', 0],
  ['first chunk request', 'reset-after', 0],
  ['second chunk request', 'reset-after', 1],
  ['the manifest request', 'swallow', -1],
  ['the manifest request', 'reset-after', -1],
] as Array<[string, FaultAction, number]>)('a big value, the answer of %s lost (%s)', (_what, action, which) => {
  it('the call resolves and the value reads whole, or rejects and the old value or the new one reads whole; no manifest without chunks', async (t) => {
    t.onTestFinished(() => {
      proxy.clear();
      proxy.release();
    });
    const user = uniqueUser('big');
    const p = remoteVia(t, emu, proxy, user, opts);
    await p.client.ready();
    const old = text(300_000, 7);
    await p.client.store.set('big', old);
    const fresh = text(400_000, 99);
    let n = 0;
    const seen: number[] = [];
    proxy.fault(
      (r) => {
        if (!bulk(r)) return false;
        const big = (r.bytes ?? 0) > 20_000;
        seen.push(r.bytes ?? -1);
        if (which === -1) return !big && n++ === 0;
        return big && n++ === which;
      },
      action,
      { times: 1 },
    );
    const o = await settle(p.client.store.set('big', fresh));
    proxy.clear();
    proxy.release();
    const got = await settle(p.client.store.get('big'));
    const v = await p.client.store.get('big').catch((e) => `ERR ${(e as { code?: string }).code}`);
    const summary = { o: o.ok ? 'ok' : (o as { code: string }).code, read: v === fresh ? 'fresh' : v === old ? 'old' : String(v).slice(0, 40), bodies: seen.length };
    if (o.ok) expect(summary.read).toBe('fresh');
    else expect(['fresh', 'old']).toContain(summary.read);
    expect(got.ok).toBe(true);
    expect(await checkManifests(user)).toEqual([]);
    // another client reads it whole too
    const q = remoteVia(t, emu, undefined, user, opts);
    const other = await q.client.store.get('big');
    expect(other === fresh || other === old).toBe(true);
    // writing it again makes it fresh
    await p.client.store.set('big', fresh);
    expect((await q.client.store.get('big')) === fresh).toBe(true);
    expect(p.conflicts.length, JSON.stringify({ summary, conflicts: p.conflicts.map((c) => c.key) })).toBe(0);
  });
});

describe.each(['cut', 'cut+reset', 'cut+stall'])('watch in remote mode while the feed is cut repeatedly (%s)', (how) => {
  it('every change of another client reported once, in order', async (t) => {
    t.onTestFinished(() => {
      proxy.clear();
      proxy.release();
    });
    const user = uniqueUser('watch');
    const w = remoteVia(t, emu, proxy, user);
    const writer = remoteVia(t, emu, undefined, user);
    await Promise.all([w.client.ready(), writer.client.ready()]);
    const events: Array<{ key: string; value: unknown; kind: string }> = [];
    const off = w.client.store.watch({ prefix: 'w' }, (e) => events.push({ key: e.subkey !== undefined ? `${e.key}:${e.subkey}` : e.key, value: e.value, kind: e.kind }));
    t.onTestFinished(off);
    await new Promise((r) => setTimeout(r, 300));
    const N = 40;
    let cutting = true;
    const cutter = (async () => {
      let i = 0;
      while (cutting) {
        await new Promise((r) => setTimeout(r, 70 + ((i++ * 37) % 90)));
        proxy.cut();
        const changes = (r: FaultRequest) => r.method === 'GET' && r.path.endsWith('/_changes') && !r.url.includes('limit=0');
        if (how === 'cut+reset') proxy.fault(changes, 'reset', { times: 1 });
        if (how === 'cut+stall') proxy.fault(changes, 'stall', { times: 1 });
      }
    })();
    for (let i = 0; i < N; i++) {
      await writer.client.store.set(`w:${String(i).padStart(3, '0')}`, i); // distinct keys: each once
      await writer.client.store.set('wcount', i); // one key: increasing, no repeats
      await new Promise((r) => setTimeout(r, 40));
    }
    cutting = false;
    await cutter;
    proxy.clear();
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !(events.some((e) => e.key === 'wcount' && e.value === N - 1) && events.filter((e) => e.key.startsWith('w:')).length >= N)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const distinct = events.filter((e) => e.key.startsWith('w:'));
    const counts = new Map<string, number>();
    for (const e of distinct) counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
    const dup = [...counts].filter(([, c]) => c > 1);
    const missing = Array.from({ length: N }, (_, i) => `w:${String(i).padStart(3, '0')}`).filter((k) => !counts.has(k));
    const seq = events.filter((e) => e.key === 'wcount').map((e) => e.value as number);
    const notIncreasing = seq.filter((v, i) => i > 0 && v <= seq[i - 1]!);
    expect({ dup, missing, notIncreasing, last: seq.at(-1), cuts: proxy.log.filter((l) => l.path.endsWith('/_changes')).length }).toMatchObject({
      dup: [],
      missing: [],
      notIncreasing: [],
      last: N - 1,
    });
    expect(proxy.log.filter((l) => l.path.endsWith('/_changes')).length).toBeGreaterThan(5);
  }, 60_000);
});
