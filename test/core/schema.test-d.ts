/** The optional schema of `createFeatClient<S>()` and the JSON typing of `set()`. */
import { describe, expectTypeOf, it } from 'vitest';
import { createFeatClient, type FeatClient, type FeatClientOptions, type JsonCompatible } from '@feat/sdk';
import { createPersistStorage } from '@feat/sdk/redux';

interface Draft {
  title: string;
  tags?: string[];
  editedAt: number | null;
}
interface Schema {
  draft: Draft;
  count: number;
}

declare const options: FeatClientOptions;
const typed = createFeatClient<Schema>(options);
declare const plain: FeatClient;

describe('schema generic', () => {
  it('get() of a key the schema names is typed by it; other keys stay unknown unless a type is given', () => {
    expectTypeOf(typed).toEqualTypeOf<FeatClient<Schema>>();
    expectTypeOf(typed.store.get('draft')).resolves.toEqualTypeOf<Draft | undefined>();
    expectTypeOf(typed.store.get('count')).resolves.toEqualTypeOf<number | undefined>();
    expectTypeOf(typed.store.get('other')).resolves.toEqualTypeOf<unknown>();
    expectTypeOf(typed.store.get<{ a: 1 }>('other')).resolves.toEqualTypeOf<{ a: 1 } | undefined>();
    expectTypeOf(plain.store.get('draft')).resolves.toEqualTypeOf<unknown>();
    expectTypeOf(createFeatClient(options)).toEqualTypeOf<FeatClient>();
  });

  it('set() of a key the schema names takes its type only', () => {
    expectTypeOf(typed.store.set('draft', { title: 't', editedAt: null })).resolves.toEqualTypeOf<void>();
    // @ts-expect-error title must be a string
    void typed.store.set('draft', { title: 1, editedAt: null });
    // @ts-expect-error count is a number
    void typed.store.set('count', 'three');
    void typed.store.set('other', { anything: ['json', 1, null, { ok: true }] });
  });

  it('a typed client still plugs into the redux engine', () => {
    expectTypeOf(createPersistStorage(typed.store)).not.toBeNever();
  });
});

describe('set() values are JSON', () => {
  it('accepts JSON values, interfaces and unknown', () => {
    const draft: Draft = { title: 't', editedAt: 1 };
    const value: unknown = JSON.parse('1');
    void plain.store.set('k', draft);
    void plain.store.set('k', value);
    void plain.store.set('k', 'text');
    void plain.store.set('k', [1, 'two', null, { three: [3] }]);
    void plain.store.set('k', { nested: { deep: true } }, { ttl: 1000 });
  });

  it('refuses a Date, a function, undefined, a Map — also nested', () => {
    // @ts-expect-error a Date is not JSON
    void plain.store.set('k', new Date());
    // @ts-expect-error a function is not JSON
    void plain.store.set('k', () => 1);
    // @ts-expect-error undefined: use remove()
    void plain.store.set('k', undefined);
    // @ts-expect-error a Map is not JSON
    void plain.store.set('k', new Map<string, number>());
    // @ts-expect-error a nested Date
    void plain.store.set('k', { at: new Date() });
    // @ts-expect-error a nested undefined
    void plain.store.set('k', { at: undefined });
    // @ts-expect-error a method
    void plain.store.set('k', { title: 't', render() {} });
    // @ts-expect-error a Date in an array
    void typed.store.set('other', [new Date()]);
  });

  it('setParts() takes JSON parts too (a Date, a function, undefined do not compile)', () => {
    const draft: Draft = { title: 't', editedAt: 1 };
    void plain.store.setParts('board', { a: draft, b: 'text', c: [1, null] });
    void typed.store.setParts('board', { a: JSON.parse('1') as unknown }, { replace: true });
    // @ts-expect-error a Date is not JSON
    void plain.store.setParts('board', { at: new Date() });
    // @ts-expect-error a nested function
    void plain.store.setParts('board', { a: { f: () => 1 } });
    // @ts-expect-error undefined: removeParts() or replace
    void plain.store.setParts('board', { a: undefined });
  });

  it('JsonCompatible<T> is T for JSON types, never for the rest', () => {
    expectTypeOf<JsonCompatible<Draft>>().toEqualTypeOf<{ title: string; tags?: string[]; editedAt: number | null }>();
    expectTypeOf<JsonCompatible<Date>>().toBeNever();
    expectTypeOf<JsonCompatible<unknown>>().toBeUnknown();
  });
});
