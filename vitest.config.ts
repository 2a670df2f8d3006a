import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'runtime/**/*.test.ts', 'transports/**/*.test.ts', 'apps/**/*.test.ts', 'bench/**/*.test.ts'],
    testTimeout: 20000,
    hookTimeout: 20000,
    // Tests bind loopback ports and spawn peers: one file at a time keeps timing honest on 2 cores.
    fileParallelism: false,
  },
});
