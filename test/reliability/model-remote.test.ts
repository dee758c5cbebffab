/** Model-based convergence and durability campaign, configuration "remote" (see model.ts for the invariants). */
import { describe, it } from 'vitest';
import { campaign, LONG } from './campaign.js';

const budget = Number(process.env.FEAT_BUDGET_MS) || 25 * 60_000;

describe('reliability campaign: remote', () => {
  it(
    'random command sequences converge to the model (seeded; FEAT_SEED replays)',
    () => campaign({ config: 'remote', shortRuns: 15, longRuns: 600, longBudgetMs: budget }),
    LONG ? budget + 300_000 : 60_000,
  );
});
