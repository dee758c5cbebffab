/* eslint-disable @typescript-eslint/no-explicit-any -- hostile answers are rewritten as untyped JSON */
/** `_revs_diff` answers that lie or are garbage: never taken as "on the server"; bounded checking. */
import { describe, expect, it } from 'vitest';
import { sleep, useLiar } from './kit.js';

const { box, device, uniqueUser } = useLiar();

describe('_revs_diff lies', () => {
  for (const [name, body] of [
    ['a string', '"hello"'],
    ['an array', '[]'],
    ['missing as a string', '{"k":{"missing":"all"}}'],
    ['null', 'null'],
  ] as const) {
    it(`answering ${name} (while _bulk_docs is dropped): waitForPush never resolves on it`, async () => {
      const user = uniqueUser('rdiff');
      const dev = device(user);
      await dev.ready();
      box.mitm.hooks.respond = (req, res) => {
        if (req.method === 'POST' && /\/_bulk_docs$/.test(req.path)) { res.writeHead(201, { 'content-type': 'application/json' }); res.end('[]'); return true; }
        if (req.method === 'POST' && /\/_revs_diff$/.test(req.path)) { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); return true; }
        return false;
      };
      await dev.store.set('k', 'v');
      const w = await dev.sync.waitForPush({ timeout: 4000 }).then(() => 'resolved', (e) => `${e.code}`);
      expect(({} as any).polluted).toBeUndefined();
      expect(({} as any).missing).toBeUndefined();
      expect(w).not.toBe('resolved');
      box.mitm.reset();
    }, 30000);
  }

  it('claiming the pushed rev missing for ever: how many requests in 20 s, and what status', async () => {
    const user = uniqueUser('forever');
    const dev = device(user);
    await dev.ready();
    box.mitm.hooks.rewrite = (req) => {
      if (!/_revs_diff$/.test(req.path) || !req.json) return;
      const out: any = {};
      for (const [id, revs] of Object.entries(req.json)) out[id] = { missing: revs };
      return { json: out };
    };
    await dev.store.set('k', 'v');
    const t0 = box.mitm.log.length;
    await sleep(20000);
    const reqs = box.mitm.log.slice(t0);
    const o: Record<string, number> = {};
    for (const r of reqs) { const p = r.path.replace(/^\/[^/]+/, '') || '/'; o[p] = (o[p] ?? 0) + 1; }
    expect(reqs.length).toBeLessThan(100);
    box.mitm.reset();
  }, 40000);
});
