import { useSyncExternalStore } from 'react';
import type { FeatError } from '../errors.js';
import { planQuery, type Query, type QueryResult } from '../query/validate.js';
import { useFeatClient, type AnyFeatClient } from './index.js';
import { Source, sourceOf, startOr, type LoadStatus } from './sources.js';

/** What {@link useQuery} returns. */
export interface QueryState<T> {
  /** The matches, in the query's order; `[]` while loading. */
  readonly results: QueryResult<T>[];
  /** `loading`: the query runs; `ready`: the results are there (and kept current); `error`: running it failed. */
  readonly status: LoadStatus;
  /** Why the query failed (`status: 'error'`); cleared by the next results. */
  readonly error: FeatError | undefined;
}

const LOADING: QueryState<never> = Object.freeze({ results: [], status: 'loading', error: undefined });

/**
 * The results of a query (`store.watchQuery`), kept current: `{ results, status, error }`. The query is compared by
 * its JSON, so an inline object literal is fine. A malformed query throws `invalid_argument` while rendering.
 *
 * ```tsx
 * const { results, status } = useQuery<Todo>({ prefix: 'todos', selector: { done: false }, sort: ['prio'] });
 * ```
 */
export function useQuery<T = unknown>(query: Query): QueryState<T> {
  planQuery(query);
  const client = useFeatClient();
  return useQueryState(querySource<T>(client, query));
}

/** The source of `query`'s results: one per client and query (shared by the components that ask the same query). */
function querySource<T>(client: AnyFeatClient, query: Query): Source<QueryState<T>> {
  return sourceOf(client, 'q' + JSON.stringify(query), () => {
    return new Source<QueryState<T>>(LOADING, (source) =>
      startOr(
        source,
        (error): QueryState<T> => ({ results: source.snapshot.results, status: 'error', error }),
        () =>
          client.store.watchQuery<T>(query, (results) => source.put({ results, status: 'ready', error: undefined }), {
            onError: (error) => source.put({ results: source.snapshot.results, status: 'error', error }),
          }),
      ),
    );
  });
}

/** Subscribes a component to a source; the server renders `loading`. */
function useQueryState<T>(source: Source<QueryState<T>>): QueryState<T> {
  return useSyncExternalStore(source.subscribe, source.get, () => LOADING as QueryState<T>);
}
