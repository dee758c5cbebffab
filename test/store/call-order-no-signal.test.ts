/**
 * Store calls without a signal keep their call order when not awaited (redux-persist
 * style), and parts calls interleaved with set()/remove() of a part still apply in call order; flush() covers them.
 */
import { describe, expect, it } from 'vitest';
import type { FeatClient } from '@feat/sdk';
import { clientIn, uniqueUser, useEmulator } from '../support/backend.js';

const emu = useEmulator();
const client = (user: string, mode: 'remote' | 'local-first'): FeatClient => clientIn(emu, user, mode);

for (const mode of ['remote', 'local-first'] as const) {
  describe(`${mode}: not-awaited calls`, () => {
    it('apply in call order, reads see the latest', async () => {
      const user = uniqueUser(`order-${mode}`);
      const c = client(user, mode);
      const s = c.store;
      const all: Promise<unknown>[] = [];
      all.push(s.setItem('persist:root', '1'), s.removeItem('persist:root'), s.setItem('persist:root', '2'));
      const read = s.getItem('persist:root');
      all.push(s.setParts('p', { a: 1, b: 2 }), s.set('p:a', 10), s.removeParts('p'), s.set('p:c', 3), s.setParts('p', { d: 4 }));
      const parts = s.getParts('p');
      const keys = s.keys('p:');
      await s.flush();
      await Promise.all(all);
      expect(await read).toBe('2');
      expect(await parts).toEqual({ c: 3, d: 4 });
      expect(await keys).toEqual(['p:c', 'p:d']);
      const other = client(user, 'remote');
      if (mode === 'local-first') await c.sync.waitForPush({ timeout: 30_000 });
      expect(await other.store.getItem('persist:root')).toBe('2');
      expect(await other.store.getParts('p')).toEqual({ c: 3, d: 4 });
    }, 60_000);
  });
}
