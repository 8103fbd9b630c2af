#!/usr/bin/env node
// Builds the native addon (binding.gyp → build/Release/oi_native.node) at `npm install`.
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
const args = [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
