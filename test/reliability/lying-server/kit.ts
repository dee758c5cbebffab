/* eslint-disable @typescript-eslint/no-explicit-any -- hostile answers are rewritten as untyped JSON */
import { afterAll, beforeAll, expect } from 'vitest';
import { createFeatClient, type FeatClient } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../../support/backend.js';
import { startMitm, type Mitm, type Req } from './mitm.js';

export function useLiar() {
  const emu = useEmulator();
  const box: { mitm: Mitm; unhandled: unknown[] } = { mitm: undefined as unknown as Mitm, unhandled: [] };
  const onU = (e: unknown) => box.unhandled.push(e);
  beforeAll(async () => {
    box.mitm = await startMitm(emu.couchUrl);
    process.on('unhandledRejection', onU);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onU);
    await box.mitm.close();
    expect(box.unhandled.map(String)).toEqual([]);
  });
  const remote = (user: string) =>
    emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote' } as any));
  const device = (user: string, extra: Record<string, unknown> = {}) => {
    const c = emu.track(
      createFeatClient({
        couchUrl: box.mitm.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user),
        local: { adapter: 'memory' }, maintenance: { enabled: false }, requestTimeout: 3000, ...extra,
      } as any),
    );
    const errors: any[] = [];
    const statuses: string[] = [];
    c.sync.on('error', (e: any) => errors.push(e));
    c.sync.on('status', (s: string) => statuses.push(s));
    return Object.assign(c, { errors, statuses }) as FeatClient & { errors: any[]; statuses: string[] };
  };
  return { emu, box, remote, device, uniqueUser };
}

/** Applies `fn` to every change result, in buffered `_changes` answers and in continuous lines. */
export function onChanges(m: Mitm, fn: (r: any, req: Req) => any | any[] | undefined, top?: (json: any, req: Req) => any) {
  m.hooks.rewrite = (req, res) => {
    if (!/\/_changes$/.test(req.path) || !res.json || !Array.isArray(res.json.results)) return;
    const results: any[] = [];
    for (const r of res.json.results) {
      const o = fn(r, req);
      if (o === undefined) results.push(r);
      else if (Array.isArray(o)) results.push(...o);
      else if (o !== null) results.push(o);
    }
    let json = { ...res.json, results };
    if (top) json = top(json, req) ?? json;
    return { json };
  };
  m.hooks.line = (req, obj) => {
    if (obj && typeof obj === 'object' && 'id' in obj) {
      const o = fn(obj, req);
      if (o === undefined) return;
      return (Array.isArray(o) ? o : o === null ? [] : [o]).map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
    }
    if (obj && typeof obj === 'object' && 'last_seq' in obj && top) {
      const t = top({ results: [], ...obj }, req);
      if (t !== undefined) return typeof t === 'string' ? t : JSON.stringify(t);
    }
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
