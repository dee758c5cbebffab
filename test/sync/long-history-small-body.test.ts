/**
 * A key edited hundreds of times under a small `maxRequestBytes` (8 KiB is allowed: the minimum is 4,096): the push
 * sends a revision with its history (`_revisions`, ~35 bytes an edit, up to 1,000), and the document no longer fit a
 * request although its value is a byte: refused `too_large` ("store it in parts or chunks", wrong advice), the key
 * never pushed again (the attack of session 34: every run, both backends). Now the history is cut to the newest
 * revision ids that fit (src/transport/body-limit.ts `shortHistory`), as CouchDB stems at `_revs_limit`: the server
 * joins it at the revision it holds (the review: a cut after `_revs_diff`'s `possible_ancestors` missed a key another
 * device edited meanwhile, whose leaf is not in this history).
 */
import { describe, expect, it } from 'vitest';
import { clientIn, sleep, uniqueUser, useEmulator, waitFor } from '../support/backend.js';

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

  it('a key edited offline on two devices (the server leaf is the other device\'s): the long-history device\'s value still reaches the server', async () => {
    const user = uniqueUser('lh-conflict');
    const a = clientIn(emu, user, 'local-first', { maxRequestBytes: LIMIT });
    const errors: string[] = [];
    a.sync.on('error', (e) => errors.push(`${e.code}: ${e.message.slice(0, 120)}`));
    for (let i = 0; i < 10; i++) await a.store.set('k', `a${i}`);
    await a.sync.waitForPush({ timeout: 15_000 });
    a.sync.pause();
    // Another device edits the key once on the server (its revision is a leaf on another branch than A's next ones).
    const c = clientIn(emu, user, 'remote');
    await c.store.set('k', 'from-c');
    await sleep(50);
    // A edits on, offline: its history grows past what fits in a request.
    for (let i = 10; i < 310; i++) await a.store.set('k', `a${i}`);
    a.sync.resume();
    await a.sync.waitForPush({ timeout: 30_000 }).catch((e: unknown) => errors.push(`waitForPush: ${String((e as Error).message).slice(0, 120)}`));
    const b = clientIn(emu, user, 'remote');
    expect({ server: await b.store.get('k'), errors }).toEqual({ server: 'a309', errors: [] });
  }, 120_000);
});
