import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../test/helpers/paths.js';
import { runTracked } from './exec.js';
import { NotMeasurable } from './setup.js';

/**
 * The wireguard-go the `wireguard_go` row measures: the newest version of its Go module
 * (`go list -m golang.zx2c4.com/wireguard@latest` when pinned; the module has no semver tags, so
 * this is a pseudo-version of the release branch; the binary calls itself v0.0.20250522). Only
 * this string is in the repository: the binary is built from the module proxy into the bench's
 * work directory, which is git-ignored.
 */
export const WIREGUARD_GO_MODULE = 'golang.zx2c4.com/wireguard';
export const WIREGUARD_GO_VERSION = 'v0.0.0-20260522210424-ecfc5a8d5446';

/** bench/.work: what the bench builds or downloads for itself (git-ignored). */
export const benchWorkDir = path.join(repoRoot, 'bench', '.work');

/** The Go toolchain: `go` on PATH (sudo often drops /usr/local/go/bin from it), else Go's default install place. */
async function findGo(): Promise<string | undefined> {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/local/go/bin']) {
    const go = path.join(dir, 'go');
    if (existsSync(go) && (await runTracked([go, 'version'], { timeoutMs: 30_000 })).code === 0) return go;
  }
  return undefined;
}

/**
 * The path of the pinned wireguard-go binary, built on first use (`go install` with GOPATH,
 * GOBIN and the build cache under bench/.work; later runs reuse it). Throws NotMeasurable with a
 * one-line reason when it cannot be built (no Go, no module proxy, a compile error).
 */
export async function wireguardGoBinary(log: (m: string) => void): Promise<string> {
  const gobin = path.join(benchWorkDir, `wireguard-go-${WIREGUARD_GO_VERSION}`);
  const bin = path.join(gobin, 'wireguard');
  if (existsSync(bin)) return bin;
  const go = await findGo();
  if (!go) throw new NotMeasurable('wireguard-go not built: no Go toolchain (no `go` on PATH nor /usr/local/go/bin/go)');
  const gopath = path.join(benchWorkDir, 'go');
  mkdirSync(gopath, { recursive: true });
  log(`  building wireguard-go ${WIREGUARD_GO_VERSION} from the Go module proxy into ${path.relative(repoRoot, gobin)} (first run only)`);
  const r = await runTracked(['env', `GOPATH=${gopath}`, `GOBIN=${gobin}`, `GOCACHE=${path.join(gopath, 'cache')}`,
    // Module files writable, so that bench/.work can be removed with rm -r.
    'GOFLAGS=-modcacherw', 'CGO_ENABLED=0', go, 'install', `${WIREGUARD_GO_MODULE}@${WIREGUARD_GO_VERSION}`], { timeoutMs: 900_000 });
  if (r.code !== 0 || !existsSync(bin)) {
    const why = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean).at(-1) ?? `exit ${r.code}`;
    throw new NotMeasurable(`wireguard-go not built (${r.code === null ? 'timed out or killed' : `go install exit ${r.code}`}): ${why}`);
  }
  return bin;
}
