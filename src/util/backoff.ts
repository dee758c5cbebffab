/** Exponential backoff with jitter (50–100 % of the step, at most 30 s), so clients that failed together retry apart. */
export const backoff = (failures: number): number => Math.min(30_000, 500 * 2 ** failures) * (0.5 + Math.random() / 2);
