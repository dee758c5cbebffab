/**
 * Remote mode: the status follows the requests, `idle` again only on the next good answer. A captive portal's page with
 * status 200, truncated JSON or a redirect is not one: the call rejects `bad_response` and the status is `error` until
 * an answer reads as CouchDB's (local-first reports `error` for the same answers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatClient, type SyncStatus } from '@feat/sdk';
import { expectCode, uniqueUser, useEmulator } from '../support/backend.js';
import { startRawFront, type RawAnswer, type RawFront } from '../support/raw-front.js';

const emu = useEmulator({ peruserDelayMs: 0 });
let front: RawFront;
beforeAll(async () => {
  front = await startRawFront(emu.couchUrl);
});
afterAll(async () => {
  await front.close();
});
const dbPath = (p: string) => !p.startsWith('/_') && p !== '/';

const ANSWERS: Record<string, RawAnswer> = {
  "a captive portal's HTML page (200)": { status: 200, headers: { 'content-type': 'text/html' }, body: '<html><title>Wi-Fi login</title></html>' },
  'truncated JSON (200)': { status: 200, headers: { 'content-type': 'application/json' }, body: '{"_id":"k","doc":' },
  'a redirect (302)': { status: 302, headers: { location: 'http://127.0.0.1:1/login' } },
};

describe('remote mode: the status after an answer that is not CouchDB', () => {
  for (const [name, answer] of Object.entries(ANSWERS)) {
    it(`${name}: get() rejects bad_response, the status is error (never idle) until a good answer`, async () => {
      const c = createFeatClient({ couchUrl: front.url, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(uniqueUser('rsb')), mode: 'remote', requestTimeout: 5_000 });
      try {
        await c.ready();
        await c.store.set('k', 1);
        expect(c.sync.status).toBe('idle');
        const seen: SyncStatus[] = [];
        c.sync.on('status', (s) => seen.push(s));
        front.rule = (r) => (dbPath(r.path) ? answer : undefined);
        await expectCode(c.store.get('k'), 'bad_response');
        expect(c.sync.status).toBe('error');
        // A second bad answer while in error: no `idle` in between.
        await expectCode(c.store.get('k'), 'bad_response');
        expect(c.sync.status).toBe('error');
        front.rule = undefined;
        await expect(c.store.get('k')).resolves.toBe(1);
        expect(c.sync.status).toBe('idle');
        expect(seen).toEqual(['error', 'idle']);
      } finally {
        front.rule = undefined;
        await c.close();
      }
    });
  }
});
