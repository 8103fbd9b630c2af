// What `node scripts/run-tests.mjs [PREFIX...]` does, decided apart from doing it so a test can
// check the decision: which compiled test files run, and whether the Debian packages the suite
// needs are checked first. Unit tests need none of them; every other directory does (namespaces,
// tcpdump, tshark, scapy, strongSwan, libreswan). The check is scripts/install-deps.sh: as root it
// installs what is missing, otherwise it names what is missing in one line and exits 2 — in both
// cases before the first test file runs.
import path from 'node:path';

/**
 * @param {string[]} allFiles every compiled test file (absolute paths under testRoot)
 * @param {string[]} prefixes the runner's arguments: prefixes of paths relative to testRoot
 * @param {{ testRoot: string, repoRoot: string, env: Record<string, string | undefined> }} o
 * @returns {{ files: string[], install: string[] | null }} the files in order, and the command to
 *   run before them (null: none)
 */
export function planTestRun(allFiles, prefixes, o) {
  const rel = (f) => path.relative(o.testRoot, f).split(path.sep).join('/');
  let files = [...allFiles].sort();
  if (prefixes.length > 0) files = files.filter((f) => prefixes.some((p) => rel(f).startsWith(p)));
  const needsPackages = files.some((f) => !rel(f).startsWith('unit/'));
  // OI_INSTALL_DEPS names another script to run instead (the runner's own tests use it).
  const install = !needsPackages ? null
    : o.env.OI_INSTALL_DEPS ? [o.env.OI_INSTALL_DEPS]
      : ['bash', path.join(o.repoRoot, 'scripts', 'install-deps.sh')];
  return { files, install };
}
