#!/usr/bin/env node
// `npm run soak [-- --seconds N --pps N]`: runs the soak (dist/test/soak/soak.js) holding the
// netns lock that the namespace tests share, so it never overlaps them on a shared machine.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (process.getuid?.() !== 0) {
  console.error('soak: needs root (network namespaces, TUN devices)');
  process.exit(2);
}
const r = spawnSync('flock', ['/tmp/oi-netns.lock', process.execPath, path.join(root, 'dist', 'test', 'soak', 'soak.js'), ...process.argv.slice(2)], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
