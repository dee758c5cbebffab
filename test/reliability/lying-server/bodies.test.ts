/* eslint-disable @typescript-eslint/no-explicit-any -- hostile answers are rewritten as untyped JSON */
/** Huge, endless and gzip-bombed answers; GET /db lying about the database. Expect bounded memory and time, typed errors, recovery. */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../support/backend.js';
import { sleep, useLiar } from './kit.js';
import type { ServerResponse } from 'node:http';

const { box, remote, device, uniqueUser } = useLiar();

function peakRss() {
  const base = process.memoryUsage().rss;
  let peak = base;
  const t = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
  return { stop: () => { clearInterval(t); return Math.round((peak - base) / 1e6); } };
}

/** Writes `head`, then `filler` for ever (respecting backpressure) until the client goes away or `limitBytes`. */
function endless(res: ServerResponse, head: string, filler: string, limitBytes: number, headers: Record<string, string> = {}) {
  res.writeHead(200, { 'content-type': 'application/json', ...headers });
  res.write(head);
  const chunk = Buffer.from(filler.repeat(Math.ceil(1_000_000 / filler.length)));
  let sent = 0;
  const pump = () => {
    while (sent < limitBytes && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) { res.once('drain', pump); return; }
    }
    if (!res.destroyed) res.end();
  };
  res.on('close', () => { (box as any).sent = Math.max((box as any).sent ?? 0, sent); });
  pump();
}


describe('bodies', () => {
  it('an endless continuous _changes line (no newline ever): bounded memory, the pull errors or reconnects, converges after', async () => {
    const user = uniqueUser('endless-line');
    const dev = device(user);
    await dev.ready();
    (box as any).sent = 0;
    box.mitm.hooks.respond = (req, res) => {
      if (/_changes$/.test(req.path) && req.query.get('feed') === 'continuous') { endless(res, '{"seq":', '1', 400_000_000); return true; }
      return false;
    };
    // Make the live feed reconnect: the SDK follows again after a write from another device? Force with pause/resume.
    dev.sync.pause(); dev.sync.resume();
    const m = peakRss();
    await sleep(8000);
    const grew = m.stop();
    box.mitm.reset();
    dev.sync.pause(); dev.sync.resume();
    await remote(user).store.set('after', 1);
    await waitFor(async () => (await dev.store.get('after')) === 1, 20000, 'converge');
    expect(grew).toBeLessThan(800);
  }, 60000);

  it('a first pull _changes answer that never ends (whitespace inside JSON): bounded memory, ready() bounded', async () => {
    const user = uniqueUser('endless-body');
    await remote(user).store.set('pre', 1);
    (box as any).sent = 0;
    box.mitm.hooks.respond = (req, res) => {
      if (/_changes$/.test(req.path) && req.query.get('feed') !== 'continuous') { endless(res, '{"results":[', ' ', 600_000_000); return true; }
      return false;
    };
    const dev = device(user, { initialSyncTimeout: 5000 });
    const m = peakRss();
    const r = await dev.ready().then(() => 'ok', (e) => e.code);
    expect(['ok', 'bad_response', 'timeout', 'network', 'server']).toContain(r);
    await sleep(3000);
    const grew = m.stop();
    box.mitm.reset();
    expect(grew).toBeLessThan(800);
    await waitFor(async () => (await dev.store.get('pre')) === 1, 30000, 'converge');
  }, 60000);

  it('a gzip bomb as the _changes answer: bounded memory', async () => {
    const user = uniqueUser('bomb');
    await remote(user).store.set('pre', 1);
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"results":['), Buffer.alloc(400_000_000, 0x20), Buffer.from('],"last_seq":0}')] as Uint8Array[]) as Uint8Array);
    box.mitm.hooks.respond = (req, res) => {
      if (/_changes$/.test(req.path)) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(bomb.length) });
        res.end(bomb);
        return true;
      }
      return false;
    };
    const dev = device(user, { initialSyncTimeout: 5000 });
    const m = peakRss();
    await dev.ready().catch(() => undefined);
    await sleep(3000);
    const grew = m.stop();
    box.mitm.reset();
    expect(grew).toBeLessThan(800);
    await waitFor(async () => (await dev.store.get('pre')) === 1, 30000, 'converge');
  }, 60000);

  for (const [name, lie] of [
    ['a new instance_start_time and update_seq 0 on every look', (j: any) => ({ ...j, instance_start_time: String(Date.now() + Math.random()), update_seq: 0, doc_count: 0 })],
    ['another database’s name', (j: any) => ({ ...j, db_name: 'userdb-someone-else' })],
    ['an empty object', () => ({})],
    ['a __proto__ body', () => JSON.parse('{"__proto__":{"polluted":1},"db_name":"x","update_seq":"garbage"}')],
  ] as const) {
    it(`GET /db answering ${name}: device data kept and pushed, bounded requests`, async () => {
      const user = uniqueUser('dbinfo');
      const dev = device(user);
      await dev.ready();
      await dev.store.set('mine', 'device');
      await dev.sync.waitForPush({ timeout: 5000 });
      box.mitm.hooks.rewrite = (req, res) => {
        if (req.method === 'GET' && /^\/[^/]+\/?$/.test(req.path) && res.json) return { json: (lie as any)(res.json) };
      };
      await dev.store.set('later', 2);
      const t0 = box.mitm.log.length;
      await dev.sync.waitForPush({ timeout: 5000 }).catch(() => undefined);
      await sleep(3000);
      const reqs = box.mitm.log.slice(t0);
      const other = remote(user);
      expect(({} as any).polluted).toBeUndefined();
      expect(await dev.store.get('mine')).toBe('device');
      expect(reqs.length).toBeLessThan(100);
      box.mitm.reset();
      await dev.sync.waitForPush({ timeout: 15000 });
      expect(await other.store.get('later')).toBe(2);
    }, 40000);
  }
  for (const [name, match] of [
    ['_revs_diff', (req: any) => req.method === 'POST' && /\/_revs_diff$/.test(req.path)],
    ['GET /db', (req: any) => req.method === 'GET' && /^\/[^/]+\/?$/.test(req.path)],
  ] as const) {
    it(`an endless ${name} answer (400 MB of whitespace in JSON): bounded memory`, async () => {
      const user = uniqueUser('endless2');
      const dev = device(user);
      await dev.ready();
      (box as any).sent = 0;
      box.mitm.hooks.respond = (req, res) => {
        if ((match as any)(req)) { endless(res, '{"k":', ' ', 400_000_000); return true; }
        return false;
      };
      const m = peakRss();
      await dev.store.set('k', 'v');
      await dev.sync.waitForPush({ timeout: 8000 }).catch(() => undefined);
      const grew = m.stop();
      box.mitm.reset();
      expect(grew).toBeLessThan(800);
    }, 60000);
  }
});
