/** The public types of `@feat/sdk/react`. */
import type { JSX, ReactElement } from 'react';
import { describe, expectTypeOf, it } from 'vitest';
import type { FeatClient, FeatError, SyncStatus } from '@feat/sdk';
import {
  FeatProvider,
  useFeatClient,
  useKeys,
  useParts,
  usePending,
  useSyncStatus,
  useValue,
  type LoadStatus,
  type Snapshot,
  type ValueState,
} from '@feat/sdk/react';

interface Draft {
  title: string;
}

describe('@feat/sdk/react types', () => {
  it('useValue<T>: value, status, error and a setter', () => {
    const draft = useValue<Draft>('draft');
    expectTypeOf(draft).toEqualTypeOf<ValueState<Draft>>();
    expectTypeOf(draft.value).toEqualTypeOf<Draft | undefined>();
    expectTypeOf(draft.status).toEqualTypeOf<LoadStatus>();
    expectTypeOf<LoadStatus>().toEqualTypeOf<'loading' | 'ready' | 'error'>();
    expectTypeOf(draft.error).toEqualTypeOf<FeatError | undefined>();
    expectTypeOf(draft.set({ title: 't' })).toEqualTypeOf<Promise<void>>();
    expectTypeOf(draft.set((previous) => ({ title: previous?.title ?? '' }))).toEqualTypeOf<Promise<void>>();
    expectTypeOf(draft.set(undefined)).toEqualTypeOf<Promise<void>>();
    // @ts-expect-error the setter takes the value's type
    void draft.set({ title: 1 });
    expectTypeOf(useValue('x').value).toEqualTypeOf<unknown>();
  });

  it('useParts, useKeys, useSyncStatus, usePending', () => {
    expectTypeOf(useParts<number>('board')).toEqualTypeOf<Snapshot<Record<string, number>>>();
    expectTypeOf(useKeys('board').value).toEqualTypeOf<string[]>();
    expectTypeOf(useSyncStatus()).toEqualTypeOf<SyncStatus>();
    expectTypeOf(usePending()).toEqualTypeOf<number | undefined>();
  });

  it('FeatProvider takes a client; useFeatClient can carry a schema', () => {
    expectTypeOf(FeatProvider).toBeCallableWith({ client: {} as FeatClient });
    // A JSX.Element: TypeScript before 5.1 refuses `<FeatProvider>` as JSX when a component returns ReactNode.
    expectTypeOf(FeatProvider).returns.toEqualTypeOf<ReactElement>();
    expectTypeOf(FeatProvider).returns.toExtend<JSX.Element>();
    expectTypeOf(useFeatClient()).toEqualTypeOf<FeatClient>();
    expectTypeOf(useFeatClient<{ draft: Draft }>().store.get('draft')).resolves.toEqualTypeOf<Draft | undefined>();
    // A client with a schema is a client.
    const typed = {} as FeatClient<{ draft: Draft }>;
    expectTypeOf(FeatProvider).toBeCallableWith({ client: typed });
  });
});
