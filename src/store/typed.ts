/** Compile-time types of the store: values as JSON, and an optional schema of keys → value types. */

/** What JSON cannot hold: `set()` refuses these at compile time (the runtime check is `invalid_value`). */
type NotJson = undefined | symbol | bigint | Date | RegExp | Map<unknown, unknown> | Set<unknown> | ((...args: never[]) => unknown);

/**
 * `T` when a value of it survives JSON unchanged; otherwise a type no value has (so `set()` does not compile): a
 * `Date`, a function, `undefined`, a `Map`… anywhere inside. `unknown` passes (it is checked at run time).
 */
export type JsonCompatible<T> = unknown extends T
  ? T
  : T extends NotJson
    ? never
    : T extends object
      ? { [K in keyof T]: JsonCompatible<T[K]> }
      : T;

/** The keys a schema names. */
export type SchemaKey<S> = Extract<keyof S, string>;

/** What `get(key)` reads: the schema's type for a key it names, else `T` (`unknown` unless given). */
export type StoredAs<S, K extends string, T> = K extends SchemaKey<S> ? S[K] : T;

/** The value `set(key, …)` takes: the schema's type for a key it names, any JSON value for other keys. */
export type ValueFor<S, K extends string, T> = K extends SchemaKey<S> ? S[K] & JsonCompatible<S[K]> : T & JsonCompatible<T>;
