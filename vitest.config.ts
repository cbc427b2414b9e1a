import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the CPUs: one worker on a 2-core machine, which
    // ran the suite file after file. Most files wait on child processes, emulators and
    // PostgreSQL, so one worker per CPU (at least two) keeps both cores busy: the suite took
    // 490 s with one worker and 340 s with two on 2 cores; three gained nothing more.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
