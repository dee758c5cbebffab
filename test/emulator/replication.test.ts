/**
 * Plain PouchDB (core + http + memory + replication, no SDK) replicating through the emulator's auth layer, as the
 * seed's example client does; the _changes feed styles; and the proxy's 1 MiB body limit biting replication.
 */
import { createRequire } from 'node:module';
import PouchDB from 'pouchdb-core';
import HttpAdapter from 'pouchdb-adapter-http';
import Replication from 'pouchdb-replication';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '@feat/emulator';
import type { Emulator } from '@feat/emulator';
import { call, couch, signUp, sleep, tokenFor, unique } from './helpers.js';

const require = createRequire(import.meta.url);
PouchDB.plugin(HttpAdapter).plugin(require('pouchdb-adapter-memory') as PouchDB.Plugin).plugin(Replication);

type Doc = { _id: string; _rev?: string; [k: string]: unknown };

/** A remote database with the proxy headers added to every request, like the seed's MyPouchDB. */
async function remote(emu: Emulator, user: string): Promise<PouchDB.Database<Doc>> {
  const { headers, dbname } = await tokenFor(emu, user);
  return new PouchDB<Doc>(`${emu.couchUrl}/${dbname}`, {
    skip_setup: true,
    fetch: (url: string | Request, opts?: RequestInit) => {
      const h = new Headers(opts?.headers);
      for (const [k, v] of Object.entries(headers)) h.set(k, v);
      return PouchDB.fetch(url, { ...opts, headers: h, credentials: 'omit' });
    },
  } as PouchDB.HttpAdapter.HttpAdapterConfiguration);
}

const local = () => new PouchDB<Doc>(unique('local'), { adapter: 'memory' });

async function until(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error('condition not met in time');
}

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ peruserDelayMs: 0 });
});
afterAll(async () => {
  await emu.stop();
});

for (const profile of ['emulator', 'couchdb'] as const) {
  describe(`replication through the proxy (${profile} profile)`, () => {
    let emu: Emulator;
    beforeAll(async () => {
      emu = await startEmulator({ profile, peruserDelayMs: 0 });
    });
    afterAll(async () => {
      await emu.stop();
    });

    it('one-shot push and pull, with _local checkpoints, _revs_diff, _bulk_docs, _bulk_get', async () => {
      const user = unique('rep');
      await signUp(emu, user);
      const db = await remote(emu, user);
      const a = local();
      await a.bulkDocs(Array.from({ length: 30 }, (_, i) => ({ _id: `d${i}`, n: i })));
      emu.resetRequests();
      const pushed = await a.replicate.to(db);
      expect(pushed.ok).toBe(true);
      expect(pushed.docs_written).toBe(30);
      const paths = emu.requests.filter((r) => r.service === 'couch').map((r) => `${r.method} ${r.path.replace(/^\/[^/]+/, '')}`);
      expect(paths).toContain('POST /_revs_diff');
      expect(paths).toContain('POST /_bulk_docs');
      expect(paths.some((p) => p.startsWith('PUT /_local/'))).toBe(true);
      expect(emu.requests.every((r) => r.status < 400 || r.status === 404)).toBe(true);

      const b = local();
      const pulled = await b.replicate.from(db);
      expect(pulled.docs_written).toBe(30);
      expect((await b.get('d7')).n).toBe(7);
      // A second pull resumes from the checkpoint and writes nothing.
      expect((await b.replicate.from(db)).docs_written).toBe(0);
      await Promise.all([a.destroy(), b.destroy()]);
    });

    it('live sync in both directions between two devices', async () => {
      const user = unique('live');
      await signUp(emu, user);
      const db = await remote(emu, user);
      const phone = local();
      const laptop = local();
      const syncs = [phone.sync(db, { live: true, retry: true }), laptop.sync(db, { live: true, retry: true })];
      try {
        await phone.put({ _id: 'draft', text: 'from phone' });
        await until(async () => (await laptop.get('draft').catch(() => null))?.text === 'from phone');
        const doc = await laptop.get('draft');
        await laptop.put({ ...doc, text: 'edited on laptop' });
        await until(async () => (await phone.get('draft')).text === 'edited on laptop');
        expect((await couch(emu, user, `/${db.name.split('/').pop()}/draft`)).json).toMatchObject({ text: 'edited on laptop' });
      } finally {
        for (const s of syncs) s.cancel();
        await Promise.all([phone.destroy(), laptop.destroy()]);
      }
    });

    it('another user cannot replicate from the database (403)', async () => {
      const owner = unique('owner');
      await signUp(emu, owner);
      const { dbname } = await tokenFor(emu, owner);
      const { headers } = await tokenFor(emu, 'intruder');
      const foreign = new PouchDB<Doc>(`${emu.couchUrl}/${dbname}`, {
        skip_setup: true,
        fetch: (url: string | Request, opts?: RequestInit) => {
          const h = new Headers(opts?.headers);
          for (const [k, v] of Object.entries(headers)) h.set(k, v);
          return PouchDB.fetch(url, { ...opts, headers: h });
        },
      } as PouchDB.HttpAdapter.HttpAdapterConfiguration);
      const target = local();
      await expect(target.replicate.from(foreign)).rejects.toMatchObject({ status: 403 });
      await target.destroy();
    });
  });
}

describe('_changes feeds through the proxy', () => {
  let user: string;
  let db: string;
  beforeAll(async () => {
    user = unique('feeds');
    db = await signUp(emu, user);
    await couch(emu, user, `/${db}/one`, { method: 'PUT', body: { v: 1 } });
  });

  it('normal', async () => {
    const reply = await couch(emu, user, `/${db}/_changes?since=0&include_docs=true`);
    expect(reply.json).toMatchObject({ results: [{ id: 'one', doc: { v: 1 } }], last_seq: expect.anything() });
  });

  it('longpoll answers at once when there are changes, waits for the next one otherwise', async () => {
    const now = (await couch(emu, user, `/${db}/_changes?feed=longpoll&since=0`)).json as { results: unknown[]; last_seq: number };
    expect(now.results).toHaveLength(1);
    const waiting = couch(emu, user, `/${db}/_changes?feed=longpoll&since=${now.last_seq}&heartbeat=50`);
    await sleep(200);
    await couch(emu, user, `/${db}/two`, { method: 'PUT', body: { v: 2 } });
    const reply = await waiting;
    // As CouchDB writes it: the results open at once, heartbeats inside them, then the change.
    expect(reply.text).toMatch(/^\{"results":\[\n\n+\{"seq"/);
    expect(reply.json).toMatchObject({ results: [{ id: 'two' }] });
  });

  it('longpoll with a timeout ends empty', async () => {
    const info = (await couch(emu, user, `/${db}`)).json as { update_seq: number };
    const reply = await couch(emu, user, `/${db}/_changes?feed=longpoll&since=${info.update_seq}&timeout=100`);
    expect(reply.json).toEqual({ results: [], last_seq: info.update_seq, pending: 0 });
    expect(reply.text).toMatch(/^\{"results":\[\n\n\n\],\n"last_seq":/);
    // A normal feed: rows separated by `,\r\n` as CouchDB writes them.
    const normal = await couch(emu, user, `/${db}/_changes`);
    expect(normal.text).toMatch(/^\{"results":\[\n\{"seq":.*\},\r\n\{"seq":.*\}\n\],\n"last_seq":.*,"pending":0\}\n/s);
  });

  it('continuous streams one JSON line per change with newline heartbeats', async () => {
    const { headers } = await tokenFor(emu, user);
    const controller = new AbortController();
    const res = await fetch(`${emu.couchUrl}/${db}/_changes?feed=continuous&since=now&heartbeat=30`, { headers, signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const read = async (until: (t: string) => boolean) => {
      while (!until(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    };
    await read((t) => t.includes('\n')); // a heartbeat arrives before any change
    await couch(emu, user, `/${db}/three`, { method: 'PUT', body: { v: 3 } });
    await read((t) => t.includes('"three"'));
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    expect(JSON.parse(lines[0]!)).toMatchObject({ id: 'three', changes: [{ rev: expect.any(String) }] });
    controller.abort();
  });

  it('continuous with a timeout and no heartbeat ends with last_seq', async () => {
    const reply = await couch(emu, user, `/${db}/_changes?feed=continuous&since=0&timeout=100`);
    const lines = reply.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toHaveProperty('last_seq');
    expect(lines.slice(0, -1).map((l) => l.id)).toEqual(expect.arrayContaining(['one', 'two', 'three']));
  });

  it('_doc_ids filter via POST body', async () => {
    const reply = await couch(emu, user, `/${db}/_changes?filter=_doc_ids`, { method: 'POST', body: { doc_ids: ['two'] } });
    expect((reply.json as { results: { id: string }[] }).results.map((r) => r.id)).toEqual(['two']);
  });
});

describe('the proxy body limit bites replication', () => {
  const docs = () => Array.from({ length: 20 }, (_, i) => ({ _id: `big${i}`, blob: 'x'.repeat(100_000) }));

  it('through the default 1 MiB limit, pushing 20 × 100 KB fails and writes nothing', async () => {
    const user = unique('limit');
    const dbname = await signUp(emu, user);
    const db = await remote(emu, user);
    const source = local();
    await source.bulkDocs(docs());
    emu.resetRequests();
    const outcome = await source.replicate.to(db).then(
      (r) => ({ ok: r.ok, written: r.docs_written, errors: r.errors }),
      (e: unknown) => ({ error: e }),
    );
    expect('error' in outcome || outcome.ok === false).toBe(true);
    const refused = emu.requests.find((r) => r.path.endsWith('/_bulk_docs'));
    expect(refused?.status).toBe(413);
    const all = (await couch(emu, user, `/${dbname}/_all_docs`)).json as { rows: unknown[] };
    expect(all.rows).toEqual([]);
    await source.destroy();
  });

  it('with maxRequestBytes: 0 the same replication succeeds', async () => {
    const open = await startEmulator({ peruserDelayMs: 0, maxRequestBytes: 0 });
    try {
      const user = unique('nolimit');
      await signUp(open, user);
      const db = await remote(open, user);
      const source = local();
      await source.bulkDocs(docs());
      const result = await source.replicate.to(db);
      expect(result.docs_written).toBe(20);
      expect((await db.info()).doc_count).toBe(20);
      await source.destroy();
    } finally {
      await open.stop();
    }
  });

  it('the HTML 413 is what a client sees (not JSON)', async () => {
    const user = unique('html');
    const dbname = await signUp(emu, user);
    const reply = await couch(emu, user, `/${dbname}/_bulk_docs`, { method: 'POST', body: { docs: docs() } });
    expect(reply.status).toBe(413);
    expect(reply.json).toBeUndefined();
    expect(() => JSON.parse(reply.text)).toThrow(/Unexpected token '<'/);
    await call(`${emu.couchUrl}/`); // keep the helper import used
  });
});
