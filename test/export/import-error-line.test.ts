/**
 * An export's `error` line (a value it could not read) is `{ key, error: { code, message } }` with no value
 * (docs/export.md); an import skips it. A line carrying a value beside a malformed `error` is no such line: it is
 * refused naming its line (or imported), never silently dropped as skipped.
 */
import { describe, expect, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions } from '@feat/sdk';
import { uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const client = (user: string): FeatClient =>
  emu.track(createFeatClient({ couchUrl: emu.couchUrl, accountsUrl: emu.accountsUrl, auth: emu.bearerFor(user), mode: 'remote', maintenance: { enabled: false } } as FeatClientOptions));
const HEADER = (n: number) =>
  JSON.stringify({ format: 'feat-export', version: 1, userName: 'x', dbName: 'y', exportedAt: new Date().toISOString(), counts: { keys: n, parts: 0 } });

describe('an import line with a value and a malformed "error"', () => {
  for (const error of [null, false, 'oops']) {
    it(`error: ${JSON.stringify(error)} next to a value is never silently skipped`, async () => {
      const c = client(uniqueUser('imp-err'));
      await c.ready();
      const file = [HEADER(2), JSON.stringify({ key: 'a', value: 1 }), JSON.stringify({ key: 'b', value: { keep: 'me' }, error })].join('\n') + '\n';
      const result = await c.importData(file).then((r) => ({ r }), (e: { code?: string; message?: string }) => ({ e: e.code }));
      if ('e' in result) {
        expect(result.e).toBe('invalid_argument'); // refused: acceptable
        return;
      }
      expect(result.r).toEqual({ imported: 2, skipped: 0 });
      expect(await c.store.get('b')).toEqual({ keep: 'me' });
    }, 60_000);
  }
});
