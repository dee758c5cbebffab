/**
 * Remote mode over a lossy link: coalesced writes of one key while answers are delayed or lost; two clients of one
 * account writing the same keys while one client's answers are lost; a token rotated while an answer is lost.
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

describe.each(['delay', 'swallow', 'reset-after'] as FaultAction[])('coalescing under %s', (action) => {
  it('50 unawaited sets of one key: every promise settles, the last value is stored, none later overwritten', async (t) => {
    t.onTestFinished(() => {
      proxy.clear();
      proxy.release();
    });
    const user = uniqueUser('co');
    const p = remoteVia(t, emu, proxy, user);
    await p.client.ready();
    await p.client.store.set('k', -1);
    // the first two writes of the key meet the fault
    proxy.fault(isWrite, action, { times: 2, delayMs: 300 });
    const ps: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      ps.push(p.client.store.set('k', i));
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 20));
    }
    const outcomes = await Promise.all(ps.map(settle));
    proxy.clear();
    // the last promise: resolved means 49 is durable; rejected means its outcome is unknown
    const last = outcomes[49]!;
    const got = await p.client.store.get('k');
    if (last.ok) expect(got).toBe(49);
    // whatever happened, nothing written earlier may come back later
    await new Promise((r) => setTimeout(r, 500));
    const again = await p.client.store.get('k');
    expect(again).toBe(got);
    await p.client.store.set('k', 'final');
    expect(await p.client.store.get('k')).toBe('final');
    const raw = await (await rawDb(emu, user)).get('k');
    expect(raw.doc).toBe('final');
    expect(raw._conflicts ?? []).toEqual([]);
    expect({ last, got }).toMatchObject({ got: last.ok ? 49 : got });
    expect(p.conflicts, JSON.stringify(p.conflicts)).toEqual([]);
  });
});

describe.each(['swallow', 'reset-after'] as FaultAction[])('two clients of one account, A loses answers (%s)', (action) => {
  it('with a merging resolver, both clients\' fields end up on the server for every key: nothing silently lost', async (t) => {
    t.onTestFinished(() => {
      proxy.clear();
      proxy.release();
    });
    const user = uniqueUser('two');
    const merge = ({ local, remote }: { local: { value: unknown }; remote: { value: unknown } }) => ({
      ...((remote.value as object) ?? {}),
      ...((local.value as object) ?? {}),
    });
    const a = remoteVia(t, emu, proxy, user, { resolver: merge });
    const b = remoteVia(t, emu, undefined, user, { resolver: merge });
    await Promise.all([a.client.ready(), b.client.ready()]);
    const N = 8;
    for (let i = 0; i < N; i++) {
      proxy.fault(isWrite, action, { times: 1 });
      const ra = settle(a.client.store.set(`k${i}`, { a: i }));
      const rb = settle(b.client.store.set(`k${i}`, { b: i }));
      const [oa, ob] = await Promise.all([ra, rb]);
      proxy.clear();
      proxy.release();
      expect(ob.ok).toBe(true);
      // A's outcome unknown to A: it writes again (what an app does after an error)
      if (!oa.ok) await a.client.store.set(`k${i}`, { a: i });
    }
    const raw = await rawDb(emu, user);
    const lost: string[] = [];
    for (let i = 0; i < N; i++) {
      const v = await b.client.store.get(`k${i}`);
      if (JSON.stringify(v) !== JSON.stringify({ a: i, b: i }) && JSON.stringify(v) !== JSON.stringify({ b: i, a: i })) lost.push(`k${i}=${JSON.stringify(v)}`);
      const d = await raw.get(`k${i}`);
      if (d._conflicts?.length) lost.push(`k${i} has _conflicts ${d._conflicts}`);
    }
    expect(lost).toEqual([]);
  });

  it('with the default resolver, the later write wins and each conflict is reported (never silently replaced)', async (t) => {
    t.onTestFinished(() => {
      proxy.clear();
      proxy.release();
    });
    const user = uniqueUser('two-d');
    const a = remoteVia(t, emu, proxy, user);
    const b = remoteVia(t, emu, undefined, user);
    await Promise.all([a.client.ready(), b.client.ready()]);
    await a.client.store.set('k', 'a0');
    await b.client.store.get('k');
    // A writes (answer lost), then B — which read a0 — writes after: B's write must meet A's a1 and go through the resolver
    proxy.fault(isWrite, action, { times: 1 });
    const oa = await settle(a.client.store.set('k', 'a1'));
    proxy.clear();
    proxy.release();
    await b.client.store.set('k', 'b1');
    expect(b.conflicts.map((c) => [c.key, (c as unknown as { remote: { value: unknown } }).remote.value, c.resolved])).toEqual([['k', 'a1', 'b1']]);
    expect(await a.client.store.get('k')).toBe('b1');
    expect(oa.ok || ['timeout', 'network'].includes((oa as { code: string }).code)).toBe(true);
  });
});

describe('token rotated while an answer is lost', () => {
  it.each(['swallow', 'reset-after'] as FaultAction[])('%s, then rotateSecret: the next write refreshes the token, no conflict, value true', async (action) => {
    const t = expect.getState();
    void t;
    const user = uniqueUser('rot');
    const p = remoteVia({ onTestFinished: (fn: () => void) => afterCleanups.push(fn) } as never, emu, proxy, user, {
      resolver: ({ local, remote }) => `${String(local.value)}+${String(remote.value)}`,
    });
    try {
      await p.client.ready();
      await p.client.store.set('k', 'v1');
      proxy.fault(isWrite, action, { times: 1 });
      const w = settle(p.client.store.set('k', 'v2'));
      await new Promise((r) => setTimeout(r, 100));
      emu.rotateSecret();
      const o = await w;
      proxy.clear();
      proxy.release();
      const got = await settle(p.client.store.get('k'));
      await p.client.store.set('k', 'v3');
      const v = await p.client.store.get('k');
      expect({ o: o.ok ? 'ok' : (o as { code: string }).code, got, v, resolver: p.resolverCalls, conflicts: p.conflicts.length }).toMatchObject({
        v: 'v3',
        resolver: [],
        conflicts: 0,
      });
    } finally {
      for (const fn of afterCleanups.splice(0)) await fn();
    }
  });
});
const afterCleanups: Array<() => unknown> = [];
