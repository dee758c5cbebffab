/**
 * Remote mode over a lossy link: a write the server applied whose answer never comes back (swallow) or whose
 * connection is reset instead of answered (reset-after). The call's outcome, what a read says, a retry, conflicts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../../support/backend.js';
import { startFaultProxy, type FaultAction, type FaultProxy } from '../../support/fault-proxy.js';
import { isWrite, rawDb, remoteVia, settle } from './helpers.js';

const emu = useEmulator();
let proxy: FaultProxy;
beforeAll(async () => {
  proxy = await startFaultProxy(emu.couchUrl);
});
afterAll(() => proxy.close());

const faults: FaultAction[] = ['swallow', 'reset-after'];
const expectedCode = (a: FaultAction) => (a === 'swallow' ? 'timeout' : 'network');
/** swallow: no answer within requestTimeout → `timeout`. reset-after: resent (it meets its own revision) → resolves, or `network`. */
function expectOutcome(r: Awaited<ReturnType<typeof settle>>, a: FaultAction) {
  if (a === 'swallow') expect(r).toMatchObject({ ok: false, code: 'timeout' });
  else if (!r.ok) expect(r.code).toBe(expectedCode(a));
}

describe.each(faults)('a write whose answer is lost (%s)', (action) => {
  const cleanup = () => {
    proxy.clear();
    proxy.release();
  };

  it('set: rejects with a code, get reads the value, a retry of the same value makes no conflict and no extra leaf', async (t) => {
    t.onTestFinished(cleanup);
    const user = uniqueUser('lw-set');
    const p = remoteVia(t, emu, proxy, user);
    await p.client.ready();
    await p.client.store.set('k', { v: 1 });
    proxy.fault(isWrite, action, { times: 1 });
    const r = await settle(p.client.store.set('k', { v: 2 }));
    expectOutcome(r, action);
    cleanup();
    expect(await p.client.store.get('k')).toEqual({ v: 2 });
    await p.client.store.set('k', { v: 2 });
    await p.client.store.set('k', { v: 3 });
    expect(await p.client.store.get('k')).toEqual({ v: 3 });
    expect(p.conflicts, JSON.stringify({ conflicts: p.conflicts, resolver: p.resolverCalls, log: proxy.log.slice(-8).map((l) => `${l.method} ${l.path} ${l.action}`) })).toEqual([]);
    expect(p.resolverCalls).toEqual([]);
    const raw = await (await rawDb(emu, user)).get('k');
    expect(raw.doc).toEqual({ v: 3 });
    expect(raw._conflicts ?? []).toEqual([]);
  });

  it('set of a new key: lost answer, then a set of another value: the newer value wins, no conflict', async (t) => {
    t.onTestFinished(cleanup);
    const user = uniqueUser('lw-new');
    const p = remoteVia(t, emu, proxy, user);
    await p.client.ready();
    proxy.fault(isWrite, action, { times: 1 });
    const r = await settle(p.client.store.set('fresh', 'a'));
    expectOutcome(r, action);
    cleanup();
    await p.client.store.set('fresh', 'b');
    expect(await p.client.store.get('fresh')).toBe('b');
    expect(p.conflicts, JSON.stringify({ conflicts: p.conflicts, resolver: p.resolverCalls, log: proxy.log.slice(-8).map((l) => `${l.method} ${l.path} ${l.action}`) })).toEqual([]);
    const raw = await (await rawDb(emu, user)).get('fresh');
    expect(raw.doc).toBe('b');
    expect(raw._conflicts ?? []).toEqual([]);
  });

  it('remove: rejects, get reads undefined, remove again resolves, a later set reads back; no conflict', async (t) => {
    t.onTestFinished(cleanup);
    const user = uniqueUser('lw-rm');
    const p = remoteVia(t, emu, proxy, user);
    await p.client.ready();
    await p.client.store.set('k', 'x');
    proxy.fault(isWrite, action, { times: 1 });
    const r = await settle(p.client.store.remove('k'));
    expectOutcome(r, action);
    cleanup();
    expect(await p.client.store.get('k')).toBeUndefined();
    await p.client.store.remove('k');
    expect(await p.client.store.get('k')).toBeUndefined();
    expect(await p.client.store.keys()).toEqual([]);
    await p.client.store.set('k', 'y');
    expect(await p.client.store.get('k')).toBe('y');
    expect(p.conflicts, JSON.stringify({ conflicts: p.conflicts, resolver: p.resolverCalls, log: proxy.log.slice(-8).map((l) => `${l.method} ${l.path} ${l.action}`) })).toEqual([]);
    expect(p.resolverCalls).toEqual([]);
  });

  it('setParts: rejects, getParts reads the parts, the same setParts again resolves, no conflict', async (t) => {
    t.onTestFinished(cleanup);
    const user = uniqueUser('lw-parts');
    const p = remoteVia(t, emu, proxy, user);
    await p.client.ready();
    await p.client.store.setParts('doc', { a: 1, b: 1 });
    proxy.fault(isWrite, action, { times: 1 });
    const r = await settle(p.client.store.setParts('doc', { a: 2, b: 2, c: 2 }));
    expectOutcome(r, action);
    cleanup();
    expect(await p.client.store.getParts('doc')).toEqual({ a: 2, b: 2, c: 2 });
    await p.client.store.setParts('doc', { a: 2, b: 2, c: 2 });
    await p.client.store.setParts('doc', { a: 3 }, { replace: true });
    expect(await p.client.store.getParts('doc')).toEqual({ a: 3 });
    expect(p.conflicts, JSON.stringify({ conflicts: p.conflicts, resolver: p.resolverCalls, log: proxy.log.slice(-8).map((l) => `${l.method} ${l.path} ${l.action}`) })).toEqual([]);
    expect(p.resolverCalls).toEqual([]);
    const docs = await (await rawDb(emu, user)).all();
    expect(docs.filter((d) => d._conflicts?.length)).toEqual([]);
  });

  it('removeParts: rejects, getParts reads {}, removeParts again resolves, setParts after reads back', async (t) => {
    t.onTestFinished(cleanup);
    const user = uniqueUser('lw-rmparts');
    const p = remoteVia(t, emu, proxy, user);
    await p.client.ready();
    await p.client.store.setParts('doc', { a: 1, b: 1 });
    proxy.fault(isWrite, action, { times: 1 });
    const r = await settle(p.client.store.removeParts('doc'));
    expectOutcome(r, action);
    cleanup();
    expect(await p.client.store.getParts('doc')).toEqual({});
    await p.client.store.removeParts('doc');
    expect(await p.client.store.getParts('doc')).toEqual({});
    await p.client.store.setParts('doc', { b: 5 });
    expect(await p.client.store.getParts('doc')).toEqual({ b: 5 });
    expect(p.conflicts, JSON.stringify({ conflicts: p.conflicts, resolver: p.resolverCalls, log: proxy.log.slice(-8).map((l) => `${l.method} ${l.path} ${l.action}`) })).toEqual([]);
    expect(p.resolverCalls).toEqual([]);
  });

  it('flush() made while the write is unanswered does not resolve as if durable-confirmed; it reports the failure', async (t) => {
    t.onTestFinished(cleanup);
    const p = remoteVia(t, emu, proxy, uniqueUser('lw-flush'));
    await p.client.ready();
    proxy.fault(isWrite, action, { times: 1 });
    const w = settle(p.client.store.set('k', 1));
    const f = await settle(p.client.store.flush());
    const wr = await w;
    expectOutcome(wr, action);
    // flush reports the write's outcome: never resolved while the write failed
    if (!wr.ok) expect(f).toMatchObject({ ok: false });
    else expect(f).toEqual({ ok: true });
    // and a flush after that has nothing pending
    cleanup();
    await p.client.store.flush();
    expect(await p.client.sync.pending()).toBe(0);
  });

  it('close() with a write still unanswered names it (one error event with the key) and settles the write', async (t) => {
    t.onTestFinished(cleanup);
    const p = remoteVia(t, emu, proxy, uniqueUser('lw-close'));
    await p.client.ready();
    proxy.fault(isWrite, action, { times: 1 });
    const w = settle(p.client.store.set('closing-key', 1));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await p.client.close();
    const took = performance.now() - t0;
    const wr = await w;
    expectOutcome(wr, action);
    expect(took).toBeLessThan(2 * 2_000 + 1_000 + 1_500);
    const named = p.errors.filter((e) => e.key === 'closing-key');
    expect(named.length, JSON.stringify(p.errors)).toBe(wr.ok ? 0 : 1);
    if (!wr.ok) expect(['timeout', 'network']).toContain(named[0]!.code);
  });
});

describe('a write whose connection is reset before it is forwarded (nothing stored)', () => {
  it('set rejects network; get reads the old value; nothing changed on the server', async (t) => {
    t.onTestFinished(() => proxy.clear());
    const user = uniqueUser('lw-reset');
    const p = remoteVia(t, emu, proxy, user);
    await p.client.ready();
    await p.client.store.set('k', 'old');
    proxy.fault(isWrite, 'reset', { times: 1 });
    const r = await settle(p.client.store.set('k', 'new'));
    // either retried and stored, or rejected with network: both honest, but then the read must agree
    if (r.ok) expect(await p.client.store.get('k')).toBe('new');
    else {
      expect(r.code).toBe('network');
      expect(await p.client.store.get('k')).toBe('old');
    }
  });
});

describe('reset-after with a merging resolver (the resend meets its own revision)', () => {
  it('set: the stored value is the value written, not merged with itself', async (t) => {
    t.onTestFinished(() => proxy.clear());
    const user = uniqueUser('lw-merge');
    const p = remoteVia(t, emu, proxy, user, { resolver: ({ local, remote }) => `${String(local.value)}+${String(remote.value)}` });
    await p.client.ready();
    await p.client.store.set('draft', 'v1');
    proxy.fault(isWrite, 'reset-after', { times: 1 });
    const r = await settle(p.client.store.set('draft', 'v2'));
    proxy.clear();
    const got = await p.client.store.get('draft');
    expect({ r, got, resolver: p.resolverCalls }).toEqual({ r: { ok: true }, got: 'v2', resolver: [] });
  });
});

describe.each(faults)('watch of a key whose own write lost its answer (%s)', (action) => {
  it('the write is reported once, as local, with its value; the next write once too', async (t) => {
    t.onTestFinished(() => {
      proxy.clear();
      proxy.release();
    });
    const p = remoteVia(t, emu, proxy, uniqueUser('lw-watch'));
    await p.client.ready();
    await p.client.store.set('k', 'v1');
    const events: Array<[unknown, string, string]> = [];
    const off = p.client.store.watch('k', (e) => events.push([e.value, e.kind, e.origin]));
    t.onTestFinished(off);
    await new Promise((r) => setTimeout(r, 300));
    proxy.fault(isWrite, action, { times: 1 });
    const r = await settle(p.client.store.set('k', 'v2'));
    expectOutcome(r, action);
    proxy.clear();
    proxy.release();
    await p.client.store.set('k', 'v3');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(events).toEqual([
      ['v2', 'update', 'local'],
      ['v3', 'update', 'local'],
    ]);
  });
});

describe.each([...faults, 'none'] as Array<FaultAction | 'none'>)('an app that applies only remote events (as the redux sync does), its write answer lost (%s)', (action) => {
  it('its state is never taken back to a value it already replaced', async (t) => {
    t.onTestFinished(() => {
      proxy.clear();
      proxy.release();
    });
    const p = remoteVia(t, emu, proxy, uniqueUser('lw-echo'));
    await p.client.ready();
    await p.client.store.set('k', 'v1');
    let state = 'v1';
    const applied: string[] = [];
    const off = p.client.store.watch('k', (e) => {
      if (e.origin === 'remote') {
        state = e.value as string;
        applied.push(state);
      }
    });
    t.onTestFinished(off);
    await new Promise((r) => setTimeout(r, 300));
    if (action !== 'none') proxy.fault(isWrite, action, { times: 1 });
    state = 'v2';
    const w2 = settle(p.client.store.set('k', 'v2'));
    await new Promise((r) => setTimeout(r, 100)); // v2 is on the wire (and applied) before the app writes v3
    state = 'v3';
    const w3 = settle(p.client.store.set('k', 'v3'));
    await Promise.all([w2, w3]);
    proxy.clear();
    proxy.release();
    await p.client.store.flush();
    await new Promise((r) => setTimeout(r, 1_000));
    const server = await p.client.store.get('k');
    expect({ state, server, applied }).toEqual({ state: 'v3', server: 'v3', applied: [] });
  });
});

describe('reset-after with a "server wins" resolver', () => {
  it.each([
    ['an existing key', true],
    ['a new key', false],
  ])('%s: the next set after the lost answer is stored (its own revision is no conflict)', async (_n, existing, ) => {
    const user = uniqueUser('lw-sw');
    const cleanups: Array<() => unknown> = [];
    const p = remoteVia({ onTestFinished: (fn: () => unknown) => cleanups.push(fn) } as never, emu, proxy, user, { resolver: ({ remote }) => remote.value });
    try {
      await p.client.ready();
      if (existing) await p.client.store.set('k', 'v0');
      proxy.fault(isWrite, 'reset-after', { times: 1 });
      const r1 = await settle(p.client.store.set('k', 'a'));
      proxy.clear();
      const r2 = await settle(p.client.store.set('k', 'b'));
      const got = await p.client.store.get('k');
      expect({ r1, r2, got, resolver: p.resolverCalls }).toEqual({ r1: { ok: true }, r2: { ok: true }, got: 'b', resolver: [] });
    } finally {
      proxy.clear();
      for (const fn of cleanups) await fn();
    }
  });
});

describe('token rotated, then the refreshed write loses its answer', () => {
  it.each(['swallow', 'reset-after'] as FaultAction[])('%s: outcome honest, value true, no conflict', async (action) => {
    const user = uniqueUser('lw-rot2');
    const cleanups: Array<() => unknown> = [];
    const p = remoteVia({ onTestFinished: (fn: () => unknown) => cleanups.push(fn) } as never, emu, proxy, user, {
      resolver: ({ local, remote }) => `${String(local.value)}+${String(remote.value)}`,
    });
    try {
      await p.client.ready();
      await p.client.store.set('k', 'v1');
      emu.rotateSecret();
      let n = 0;
      // the first write is refused 401 (old token); the one sent after the refresh loses its answer
      proxy.fault((r) => isWrite(r) && n++ === 1, action, { times: 1 });
      const r = await settle(p.client.store.set('k', 'v2'));
      proxy.clear();
      proxy.release();
      const got = await p.client.store.get('k');
      if (action === 'swallow') expect(r).toMatchObject({ ok: false, code: 'timeout' });
      expect({ got, resolver: p.resolverCalls, conflicts: p.conflicts.length }).toEqual({ got: 'v2', resolver: [], conflicts: 0 });
      await p.client.store.set('k', 'v3');
      expect(await p.client.store.get('k')).toBe('v3');
      expect(p.resolverCalls).toEqual([]);
    } finally {
      proxy.clear();
      proxy.release();
      for (const fn of cleanups) await fn();
    }
  });
});
