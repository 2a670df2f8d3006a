#!/usr/bin/env node
// The `wsk` command (package.json "bin"): lets Node load the TypeScript sources through tsx,
// then runs apps/cli/main.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
await main(process.argv);
