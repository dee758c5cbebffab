/** Model-based convergence and durability campaign, configuration "leveldb" (see model.ts for the invariants). */
import { describe, it } from 'vitest';
import { campaign, LONG } from './campaign.js';

const budget = Number(process.env.FEAT_BUDGET_MS) || 25 * 60_000;

describe('reliability campaign: leveldb', () => {
  it(
    'random command sequences converge to the model (seeded; FEAT_SEED replays)',
    () => campaign({ config: 'leveldb', shortRuns: 8, longRuns: 400, longBudgetMs: budget }),
    LONG ? budget + 300_000 : 60_000,
  );
});
