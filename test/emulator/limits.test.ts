/** The proxy's request body limit (HTML 413) and CouchDB's max_document_size (413 document_too_large). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '@feat/emulator';
import type { Emulator } from '@feat/emulator';
import { call, couch, signUp, tokenFor } from './helpers.js';

let emu: Emulator; // default limits
let open: Emulator; // maxRequestBytes: 0, small documents
let db: string;
let openDb: string;

beforeAll(async () => {
  [emu, open] = await Promise.all([startEmulator({ peruserDelayMs: 0 }), startEmulator({ peruserDelayMs: 0, maxRequestBytes: 0, maxDocumentBytes: 4_000 })]);
  db = await signUp(emu, 'alice');
  openDb = await signUp(open, 'alice');
});
afterAll(async () => {
  await Promise.all([emu.stop(), open.stop()]);
});

const docIds = async (e: Emulator, database: string) =>
  ((await couch(e, 'alice', `/${database}/_all_docs`)).json as { rows: { id: string }[] }).rows.map((r) => r.id);

function expectNginx413(reply: { status: number; headers: Headers; text: string }) {
  expect(reply.status).toBe(413);
  expect(reply.headers.get('content-type')).toMatch(/^text\/html/);
  expect(reply.text).toMatch(/^<html>\r?\n<head><title>413 Request Entity Too Large<\/title><\/head>/);
}

describe('maxDocumentBytes (CouchDB max_document_size)', () => {
  it('PUT of an oversize document → 413 document_too_large with its _id; nothing written', async () => {
    const reply = await couch(open, 'alice', `/${openDb}/big`, { method: 'PUT', body: { text: 'x'.repeat(5_000) } });
    expect(reply.status).toBe(413);
    expect(reply.json).toEqual({ error: 'document_too_large', reason: 'big' });
    expect(await docIds(open, openDb)).not.toContain('big');
  });

  it('POST of an oversize document → 413', async () => {
    const reply = await couch(open, 'alice', `/${openDb}`, { method: 'POST', body: { _id: 'posted', text: 'x'.repeat(5_000) } });
    expect(reply.status).toBe(413);
    expect(reply.json).toEqual({ error: 'document_too_large', reason: 'posted' });
  });

  it('a _bulk_docs holding one oversize document fails whole and writes nothing', async () => {
    const docs = [{ _id: 'small-1', v: 1 }, { _id: 'huge', text: 'x'.repeat(5_000) }, { _id: 'small-2', v: 2 }];
    const reply = await couch(open, 'alice', `/${openDb}/_bulk_docs`, { method: 'POST', body: { docs } });
    expect(reply.status).toBe(413);
    expect(reply.json).toEqual({ error: 'document_too_large', reason: 'huge' });
    const ids = await docIds(open, openDb);
    expect(ids).not.toContain('small-1');
    expect(ids).not.toContain('small-2');
  });

  it('also with new_edits:false (replication writes)', async () => {
    const docs = [{ _id: 'r1', _rev: '1-abc', text: 'x'.repeat(5_000) }];
    const reply = await couch(open, 'alice', `/${openDb}/_bulk_docs`, { method: 'POST', body: { docs, new_edits: false } });
    expect(reply.status).toBe(413);
  });

  it('documents at the limit pass', async () => {
    const overhead = JSON.stringify({ _id: 'fits', t: '' }).length;
    const reply = await couch(open, 'alice', `/${openDb}/fits`, { method: 'PUT', body: { _id: 'fits', t: 'x'.repeat(4_000 - overhead) } });
    expect(reply.status).toBe(201);
  });

  it('the default is 8,000,000 bytes', async () => {
    const big = await startEmulator({ peruserDelayMs: 0, maxRequestBytes: 0 });
    try {
      const database = await signUp(big, 'alice');
      const over = await couch(big, 'alice', `/${database}/d`, { method: 'PUT', body: { t: 'x'.repeat(8_000_000) } });
      expect(over.json).toEqual({ error: 'document_too_large', reason: 'd' });
      // A 12 MB _bulk_docs of 1 MB documents passes when the proxy limit is off (express-pouchdb's parser allows it).
      const docs = Array.from({ length: 12 }, (_, i) => ({ _id: `m${i}`, t: 'y'.repeat(1_000_000) }));
      const bulk = await couch(big, 'alice', `/${database}/_bulk_docs`, { method: 'POST', body: { docs } });
      expect(bulk.status).toBe(201);
      expect((await docIds(big, database)).length).toBe(12);
    } finally {
      await big.stop();
    }
  });
});

describe('maxRequestBytes (the proxy body limit)', () => {
  it('a body over 1 MiB → nginx HTML 413 before CouchDB sees it (nothing written)', async () => {
    const docs = Array.from({ length: 11 }, (_, i) => ({ _id: `b${i}`, t: 'x'.repeat(100_000) }));
    const reply = await couch(emu, 'alice', `/${db}/_bulk_docs`, { method: 'POST', body: { docs } });
    expectNginx413(reply);
    expect(await docIds(emu, db)).toEqual([]);
  });

  it('applies before authentication, on every path', async () => {
    const body = 'x'.repeat(1_048_577);
    for (const path of ['/', `/${db}/doc`, '/_users/create-new-user', '/_users/org.couchdb.user:alice']) {
      expectNginx413(await call(`${emu.couchUrl}${path}`, { method: 'PUT', body }));
    }
  });

  it('exactly 1,048,576 bytes pass', async () => {
    const overhead = JSON.stringify({ t: '' }).length;
    const body = JSON.stringify({ t: 'x'.repeat(1_048_576 - overhead) });
    expect(Buffer.byteLength(body)).toBe(1_048_576);
    expect((await couch(emu, 'alice', `/${db}/exact`, { method: 'PUT', body })).status).toBe(201);
  });

  it('chunked bodies (no Content-Length) are counted while streaming', async () => {
    const { headers } = await tokenFor(emu, 'alice');
    const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 20) return controller.close();
        sent += 1;
        controller.enqueue(chunk);
      },
    });
    const reply = await call(`${emu.couchUrl}/${db}/chunked`, {
      method: 'PUT',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expectNginx413(reply);
  });

  it('maxRequestBytes: 0 disables the limit', async () => {
    const docs = Array.from({ length: 20 }, (_, i) => ({ _id: `n${i}`, t: 'x'.repeat(100) }));
    const reply = await couch(open, 'alice', `/${openDb}/_bulk_docs`, { method: 'POST', body: { docs, pad: 'p'.repeat(2_000_000) } });
    expect(reply.status).toBe(201);
  });

  it('a custom limit', async () => {
    const tight = await startEmulator({ peruserDelayMs: 0, maxRequestBytes: 100 });
    try {
      const database = await signUp(tight, 'alice');
      expect((await couch(tight, 'alice', `/${database}/a`, { method: 'PUT', body: { t: 'x'.repeat(50) } })).status).toBe(201);
      expectNginx413(await couch(tight, 'alice', `/${database}/b`, { method: 'PUT', body: { t: 'x'.repeat(100) } }));
    } finally {
      await tight.stop();
    }
  });
});
