/**
 * The monotonic clock, in ms from an arbitrary origin: for durations and deadlines within this process (backoffs,
 * timeouts, throttles, "not again for 10 s"). `Date.now()` is the wall clock, which an NTP correction or the user moves
 * at any time: a wall-clock deadline set before the clock went back an hour held for an hour, and one forward a day
 * passed at once. Times stored in documents, compared across devices or processes, and ttl stay on `Date.now()`.
 * Whole ms, as `Date.now()` gives (a fraction is refused where an integer is required: `AbortSignal.timeout`).
 * (`performance.now()`: browsers, workers, Node ≥ 16, React Native.)
 */
export const monotonicNow: () => number =
  typeof performance !== 'undefined' && typeof performance.now === 'function' ? () => Math.floor(performance.now()) : () => Date.now();
