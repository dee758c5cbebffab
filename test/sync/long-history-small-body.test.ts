/**
 * A key edited hundreds of times under a small `maxRequestBytes` (8 KiB is allowed: the minimum is 4,096): the push
 * sends a revision with its history (`_revisions`, ~35 bytes an edit, up to 1,000), and the document no longer fit a
 * request although its value is a byte: refused `too_large` ("store it in parts or chunks", wrong advice), the key
 * never pushed again (the attack of session 34: every run, both backends). Now the history is cut after the newest
 * revision the server holds (`_revs_diff`'s `possible_ancestors`), or to the newest alone for a document the server
 * never held (src/sync/live-push.ts `#withShortHistory`).
 */
import { describe, expect, it } from 'vitest';
import { clientIn, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

const LIMIT = 8_192;
const emu = useEmulator({ maxRequestBytes: LIMIT });

describe('local-first under maxRequestBytes 8,192: a key with a long history', () => {
  it('edited 300 times, pushed every 25 edits: every push arrives, with no error, and another device reads the last', async () => {
    const user = uniqueUser('long-history');
    const a = clientIn(emu, user, 'local-first', { maxRequestBytes: LIMIT });
    const errors: string[] = [];
    a.sync.on('error', (e) => errors.push(`${e.code}: ${e.message.slice(0, 160)}`));
    for (let i = 0; i < 300; i++) {
      await a.store.set('counter', i);
      if (i % 25 === 24) await a.sync.waitForPush({ timeout: 15_000 });
    }
    const b = clientIn(emu, user, 'remote');
    expect(await b.store.get('counter')).toBe(299);
    expect(errors).toEqual([]);
  }, 120_000);

  it('edited 400 times while paused, never on the server: pushed once resumed, pending() back to 0', async () => {
    const user = uniqueUser('long-history-new');
    const a = clientIn(emu, user, 'local-first', { maxRequestBytes: LIMIT });
    const errors: string[] = [];
    a.sync.on('error', (e) => errors.push(`${e.code}: ${e.message.slice(0, 160)}`));
    await a.ready();
    a.sync.pause();
    for (let i = 0; i < 400; i++) await a.store.set('hot', i);
    a.sync.resume();
    await a.sync.waitForPush({ timeout: 30_000 });
    await a.store.set('hot', 400);
    await a.sync.waitForPush({ timeout: 30_000 });
    const b = clientIn(emu, user, 'remote');
    expect(await b.store.get('hot')).toBe(400);
    await waitFor(async () => (await a.sync.pending()) === 0, 10_000, 'pending() back to 0');
    expect(errors).toEqual([]);
  }, 120_000);
});
