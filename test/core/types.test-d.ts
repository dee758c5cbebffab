/** The public types of `@feat/sdk`, as API.md states them. */
import { describe, expectTypeOf, it } from 'vitest';
import type {
  FeatError} from '@feat/sdk';
import {
  createFeatClient,
  isFeatError,
  type ChangeEvent,
  type Conflict,
  type ConflictResolver,
  type FeatClient,
  type FeatErrorCode,
  type FindOptions,
  type QueryResult,
  type Session,
  type SyncStatus,
} from '@feat/sdk';

declare const client: FeatClient;

describe('@feat/sdk types', () => {
  it('createFeatClient returns a FeatClient; ready() resolves to the session', () => {
    expectTypeOf(createFeatClient).returns.toEqualTypeOf<FeatClient>();
    expectTypeOf(client.ready()).resolves.toEqualTypeOf<Session>();
    expectTypeOf<Session>().toEqualTypeOf<{ userName: string; dbName: string }>();
  });

  it('store generics default to unknown, not any', () => {
    expectTypeOf(client.store.get('k')).resolves.toEqualTypeOf<unknown>();
    expectTypeOf(client.store.get<{ title: string }>('k')).resolves.toEqualTypeOf<{ title: string } | undefined>();
    expectTypeOf(client.store.getParts('k')).resolves.toEqualTypeOf<Record<string, unknown>>();
    expectTypeOf(client.store.getItem('k')).resolves.toEqualTypeOf<string | null>();
    expectTypeOf(client.store.keys()).resolves.toEqualTypeOf<string[]>();
    expectTypeOf(client.store.watch).returns.toEqualTypeOf<() => void>();
  });

  it('every store call takes an optional signal; the string API keeps its shape', () => {
    const { signal } = new AbortController();
    expectTypeOf(client.store.get('k', { signal })).resolves.toEqualTypeOf<unknown>();
    expectTypeOf(client.store.getItem('k', { signal })).resolves.toEqualTypeOf<string | null>();
    expectTypeOf(client.store.getParts<number>('k', { signal })).resolves.toEqualTypeOf<Record<string, number>>();
    expectTypeOf(client.store.keys(undefined, { signal })).resolves.toEqualTypeOf<string[]>();
    expectTypeOf(client.store.set('k', 1, { ttl: 1_000, signal })).resolves.toEqualTypeOf<void>();
    expectTypeOf(client.store.remove('k', { signal })).resolves.toEqualTypeOf<void>();
    expectTypeOf(client.store.setParts('k', { a: 1 }, { replace: true, signal })).resolves.toEqualTypeOf<void>();
    expectTypeOf(client.store.removeParts('k', { signal })).resolves.toEqualTypeOf<void>();
    expectTypeOf(client.store.flush({ signal })).resolves.toEqualTypeOf<void>();
    // @ts-expect-error -- a signal is an AbortSignal
    void client.store.get('k', { signal: 'stop' });
    // @ts-expect-error -- flush() takes options, not a signal
    void client.store.flush(signal);
    expectTypeOf(client.store.setItem).parameters.toEqualTypeOf<[key: string, value: string]>();
    expectTypeOf(client.store.removeItem).parameters.toEqualTypeOf<[key: string]>();
  });

  it('queries: results typed by the caller (unknown by default), options typed, watchQuery returns an unsubscribe', () => {
    expectTypeOf(client.store.find({ selector: { done: false } })).resolves.toEqualTypeOf<QueryResult<unknown>[]>();
    expectTypeOf(client.store.find<{ title: string }>({ prefix: 'todo' })).resolves.toEqualTypeOf<QueryResult<{ title: string }>[]>();
    expectTypeOf<QueryResult<number>>().toEqualTypeOf<{ key: string; subkey?: string; value: number }>();
    expectTypeOf<FindOptions['signal']>().toEqualTypeOf<AbortSignal | undefined>();
    expectTypeOf<FindOptions['onWarning']>().toEqualTypeOf<((warning: string) => void) | undefined>();
    expectTypeOf(client.store.watchQuery({ prefix: 'todo' }, () => undefined)).toEqualTypeOf<() => void>();
    expectTypeOf(client.store.createIndex({ fields: ['prio'] })).resolves.toEqualTypeOf<void>();
  });

  it('ChangeEvent, conflicts and statuses have the documented shapes', () => {
    expectTypeOf<ChangeEvent['kind']>().toEqualTypeOf<'insert' | 'update' | 'delete'>();
    expectTypeOf<ChangeEvent['origin']>().toEqualTypeOf<'local' | 'remote'>();
    expectTypeOf<ChangeEvent['subkey']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<SyncStatus>().toEqualTypeOf<'idle' | 'connecting' | 'active' | 'paused' | 'offline' | 'error' | 'denied'>();
    expectTypeOf<Conflict['local']['updatedAt']>().toEqualTypeOf<number>();
    expectTypeOf<ConflictResolver>().parameter(0).toEqualTypeOf<Conflict<unknown>>();
    expectTypeOf(client.sync.on('status', () => undefined)).toEqualTypeOf<() => void>();
    expectTypeOf(client.sync.pending()).resolves.toEqualTypeOf<number>();
  });

  it('errors carry a stable code', () => {
    expectTypeOf<FeatError['code']>().toEqualTypeOf<FeatErrorCode>();
    expectTypeOf<'closed'>().toMatchTypeOf<FeatErrorCode>();
    expectTypeOf(isFeatError).guards.toEqualTypeOf<FeatError>();
    const e: unknown = new Error('x');
    if (isFeatError(e, 'conflict')) expectTypeOf(e.code).toEqualTypeOf<'conflict'>();
  });

  it('watch<T>() types its events; a target is a key or a prefix, not both; a query may be a const', () => {
    client.store.watch<{ title: string }>('draft', (event) => expectTypeOf(event.value).toEqualTypeOf<{ title: string } | undefined>());
    client.store.watch('draft', (event) => expectTypeOf(event.value).toEqualTypeOf<unknown>());
    // @ts-expect-error key and prefix at once (refused at run time too: invalid_argument)
    client.store.watch({ key: 'a', prefix: 'b' }, () => undefined);
    const open = { prefix: 'todos', selector: { done: false }, sort: ['prio', { at: 'desc' }] } as const;
    expectTypeOf(client.store.find<{ prio: number }>(open)).resolves.toEqualTypeOf<QueryResult<{ prio: number }>[]>();
  });
});
