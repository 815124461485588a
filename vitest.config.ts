import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    // Hooks start servers and runtime processes; on a loaded machine that alone can take most of a minute.
    hookTimeout: 120_000,
    // End-to-end suites start servers and child processes; two workers match the 2-core CI machines.
    maxWorkers: 2,
    allowOnly: false,
    // node:sqlite is stable enough for us but still prints an ExperimentalWarning on Node 22.
    execArgv: ['--disable-warning=ExperimentalWarning'],
  },
});
