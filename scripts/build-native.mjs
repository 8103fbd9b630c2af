#!/usr/bin/env node
// Builds the native addon (binding.gyp → build/Release/oi_native.node) at `npm install`.
// Its build tools are checked (and as root installed) first; see below.
// node-gyp downloads Node's headers unless told where they are; this machine's Node ships them
// (<prefix>/include/node), and the download host may be unreachable, so point node-gyp there.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')].filter(Boolean);
const nodedir = candidates.find((d) => existsSync(path.join(d, 'include', 'node', 'node_api.h')));

// npm passes its own node-gyp in npm_config_node_gyp; the devDependency is the fallback.
let gyp = process.env.npm_config_node_gyp;
if (!gyp || !existsSync(gyp)) {
  try {
    gyp = createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    console.error('build-native: node-gyp not found (npm normally provides it); install it with `npm i -g node-gyp`');
    process.exit(1);
  }
}
// node-gyp runs python3, make and a C++ compiler. On a fresh machine they may be missing: as root
// (unless OI_NO_INSTALL=1) apt-get installs them, said in one line; otherwise one line names them.
const onPath = (name) => (process.env.PATH ?? '').split(':').some((d) => d && existsSync(path.join(d, name)));
const tools = [['python3', 'python3'], ['make', 'make'], ['g++', 'g++']].filter(([prog]) => !onPath(prog));
if (tools.length) {
  const pkgs = tools.map(([, pkg]) => pkg).join(' ');
  const progs = tools.map(([prog]) => prog).join(', ');
  const root = process.getuid?.() === 0;
  if (!root || process.env.OI_NO_INSTALL === '1' || !onPath('apt-get')) {
    console.error(`build-native: building the TUN addon needs ${progs}, not found in PATH; install them: ${root ? '' : 'sudo '}apt-get install -y ${pkgs}${root ? '' : ' (as root, npm install installs them itself)'}`);
    process.exit(2);
  }
  console.error(`build-native: installing the Debian packages ${pkgs} (for ${progs}, not found in PATH)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (...a) => spawnSync('apt-get', a, { env, stdio: ['ignore', 'ignore', 'inherit'] }).status;
  if (apt('install', '-y', '-q', ...pkgs.split(' ')) !== 0 && (apt('update', '-q'), apt('install', '-y', '-q', ...pkgs.split(' '))) !== 0) {
    console.error(`build-native: apt-get install ${pkgs} failed`);
    process.exit(2);
  }
}

const args = [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
