import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The repository root, found from this file's place in dist/test/helpers/ or test/helpers/. */
function findRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const parts = here.split(path.sep);
  const i = parts.lastIndexOf('dist');
  return i >= 0 ? parts.slice(0, i).join(path.sep) : path.resolve(here, '..', '..');
}

export const repoRoot = findRoot();
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');
/** The built CLI entry point: tests run the real command, as a user would. */
export const cliPath = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
