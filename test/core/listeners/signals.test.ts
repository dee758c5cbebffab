/**
 * `signal` on every long call: an already aborted one rejects at once with `aborted` (cause = reason) and starts nothing
 * (no request, nothing queued). (The attack of session 34: `waitForPush` and `maintenance.run` rejected at once but
 * started the client — token, sign-up, replica, live sync — in the background.)
 */
import { describe, expect, it } from 'vitest';
import { isFeatError } from '@feat/sdk';
import { sleep, uniqueUser, useEmulator } from '../../support/backend.js';
import { counted, escaped, modes } from './helpers.js';

const emu = useEmulator();

type Outcome = { code: string; ms: number; causeIsReason?: boolean };
async function outcome(call: () => unknown, reason?: unknown): Promise<Outcome> {
  const t = Date.now();
  try {
    await call();
    return { code: 'ok', ms: Date.now() - t };
  } catch (e) {
    return { code: isFeatError(e) ? e.code : `non-FeatError: ${String(e)}`, ms: Date.now() - t, causeIsReason: (e as { cause?: unknown }).cause === reason };
  }
}

function longCalls(c: ReturnType<typeof counted>, signal: AbortSignal): Record<string, () => unknown> {
  const s = c.store;
  return {
    ready: () => c.ready({ signal }),
    get: () => s.get('k', { signal }),
    getItem: () => s.getItem('k', { signal }),
    getParts: () => s.getParts('k', { signal }),
    keys: () => s.keys(undefined, { signal }),
    set: () => s.set('k', 1, { signal }),
    remove: () => s.remove('k', { signal }),
    setParts: () => s.setParts('p', { a: 1 }, { signal }),
    removeParts: () => s.removeParts('p', { signal }),
    flush: () => s.flush({ signal }),
    find: () => s.find({}, { signal }),
    waitForPush: () => c.sync.waitForPush({ signal }),
    exportData: () => c.exportData({ signal }),
    importData: () => c.importData('', { signal }),
    'maintenance.run': () => c.maintenance.run({ signal }),
    'api.commentCount': () => c.api!.activity.commentCount({ target_type: 400 }, { signal }),
  };
}

describe.each(modes)('signals: %s', (mode) => {
  const names = Object.keys(longCalls({} as never, new AbortController().signal));
  it.each(names)('an already aborted signal, on a client not started: %s rejects `aborted` at once and sends nothing', async (name) => {
    const c = counted(emu, uniqueUser('a1'), mode, { apiUrl: emu.apiUrl });
    const reason = new Error('user left the page');
    const ac = new AbortController();
    ac.abort(reason);
    let got: Outcome | undefined;
    const seen = await escaped(async () => {
      got = await outcome(longCalls(c, ac.signal)[name]!, reason);
    });
    expect(seen).toEqual([]);
    expect(got!.code).toBe('aborted');
    expect(got!.causeIsReason, "cause is the signal's reason").toBe(true);
    // (The first call of a lazily loaded feature waits for its module: generous.)
    expect(got!.ms).toBeLessThan(1_000);
    await sleep(500);
    // README: "an already aborted one starts nothing" — no token request, no sign-up, no replica, no sync.
    expect(c.wire).toEqual([]);
  });

  it('an already aborted signal, on a ready client: rejects `aborted` at once, no request', async () => {
    const c = counted(emu, uniqueUser('a2'), mode, { apiUrl: emu.apiUrl });
    await c.ready();
    await c.store.set('k', 'kept');
    await c.sync.waitForPush({ timeout: 10_000 });
    await sleep(300);
    const reason = new Error('stop');
    const ac = new AbortController();
    ac.abort(reason);
    const before = c.wire.length;
    const got: Record<string, Outcome> = {};
    for (const [name, call] of Object.entries(longCalls(c, ac.signal))) got[name] = await outcome(call, reason);
    const sent = c.wire.slice(before).filter((l) => !l.includes('_changes') && !l.includes('_revs_diff'));
    for (const [name, o] of Object.entries(got)) {
      // ready() on a ready client resolves with the session: accepted either way.
      if (name === 'ready') continue;
      expect(o.code, name).toBe('aborted');
      expect(o.ms, name).toBeLessThan(200);
    }
    expect(sent).toEqual([]);
    expect(await c.store.get('k')).toBe('kept');
  });
});
