// The bench folder's own tests (`npm run test:bench`): unit tests of the suite's tooling only;
// benchmarks themselves are never timed tests.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['bench/**/*.test.ts'],
  },
});
