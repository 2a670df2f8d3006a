#!/usr/bin/env node
// The `wsk` command (package.json "bin").
//
// An installed package runs the compiled JavaScript (dist/apps/cli/main.js, built by `npm run
// build` before packing); it ships no TypeScript and needs no tsx. A clone of the repository runs
// the TypeScript sources beside this file through tsx (a dev dependency) whenever both are there,
// even when a dist/ was built: an edit is live without a build, a stale dist/ is never run, and
// `wsk bench` (bench/ is not compiled) works.
import { existsSync } from 'node:fs';

const source = new URL('./main.ts', import.meta.url);
const compiled = new URL('../../dist/apps/cli/main.js', import.meta.url);

async function entry() {
  if (existsSync(source)) {
    try {
      const { register } = await import('tsx/esm/api');
      register();
      return source;
    } catch (err) {
      if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    }
  }
  if (existsSync(compiled)) return compiled;
  process.stderr.write('wsk: no compiled dist/ and no tsx to run the sources: in a clone run `npm ci` (installs tsx), or `npm run build`\n');
  process.exit(1);
}

const { main } = await import((await entry()).href);
await main(process.argv);
