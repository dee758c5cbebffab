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
  });
});
