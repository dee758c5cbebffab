/**
 * A sorted query in remote mode while a write of this client is on its way: find() shows the write (README), placed
 * into the server's order. The whole result set was sorted again with pouchdb-collate (code units: `Banana` before
 * `apple`), so a pending write reordered everything the server had ordered by ICU collation (`apple` before
 * `Banana`, `item_1` before `item1`).
 */
import { describe, expect, it } from 'vitest';
import { uniqueUser, useEmulator } from '../support/backend.js';
import { clients } from './parity-harness.js';

const emu = useEmulator();
const client = clients(emu);

describe('a sorted query with a write on its way (remote)', () => {
  for (const window of [{}, { limit: 4 }, { skip: 1, limit: 10 }]) {
    it(`keeps the server's order and places the write into it ${JSON.stringify(window)}`, async () => {
      let slow = false;
      const c = client(uniqueUser('pord'), {}, (line) => (slow && line.includes('_bulk_docs') ? 1_500 : 0));
      await c.ready();
      await c.store.setParts('n', { a: { name: 'apple' }, b: { name: 'Banana' }, c: { name: 'cherry' }, d: { name: 'item_1' }, e: { name: 'item1' } });
      const names = async () => (await c.store.find<{ name: string }>({ prefix: 'n', sort: ['name'], ...window })).map((r) => r.value.name);
      const before = await names();
      const all = ['apple', 'Banana', 'cherry', 'item_1', 'item1'];
      const cut = (list: string[]) => list.slice((window as { skip?: number }).skip ?? 0, ((window as { skip?: number }).skip ?? 0) + ((window as { limit?: number }).limit ?? 99));
      expect(before).toEqual(cut(all));
      slow = true;
      const write = c.store.set('n:f', { name: 'fig' });
      const during = await names();
      await write;
      slow = false;
      const after = await names();
      expect(after).toEqual(cut(['apple', 'Banana', 'cherry', 'fig', 'item_1', 'item1']));
      expect(during).toEqual(after);
    });
  }
});
