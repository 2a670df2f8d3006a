// Where the package's own files are at run time, for the code that loads something by path.
//
// The same modules run in two layouts: as TypeScript at <root>/<dir>/<file>.ts (a clone, the tests,
// tsx), and as the compiled JavaScript of an installed package at <root>/dist/<dir>/<file>.js
// (tsconfig.build.json keeps the sources' layout under dist/). Files that are not compiled stay
// at <root> in both: package.json, the native addons transports/native/build.mjs writes on install
// (transports/native/build/), the example experiments (apps/lab/experiments/).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** True when this is the compiled package (dist/), false when the TypeScript sources run. */
export const COMPILED: boolean = import.meta.url.endsWith('.js');

/** The package root: the directory of package.json. */
export const PACKAGE_ROOT: string = fileURLToPath(new URL(COMPILED ? '../../' : '../', import.meta.url));

/** A path under the package root, e.g. packagePath('transports', 'native', 'build'). */
export function packagePath(...segments: string[]): string {
  return join(PACKAGE_ROOT, ...segments);
}
