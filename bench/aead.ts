// AES-256-GCM seal + open per packet, as ESP uses it (8-byte IV, 8-byte AAD, 16-byte ICV), for
// 64/512/1400-byte packets: node:crypto (a new cipher per packet), the native addon's reused
// context one call per packet, and the native batch call (32 packets per crossing).
// CPU time of this process (process.cpuUsage) is the figure: the machine is shared.
// Run: npx tsc -p . && node dist/bench/aead.js [seconds per case] [rounds]
import { randomBytes } from 'node:crypto';
import { EspGcm, type GcmImplementation } from '../src/crypto/aes-gcm.js';
import { nativeAesGcm } from '../src/native/aead.js';

const seconds = Number(process.argv[2] ?? 1);
const rounds = Number(process.argv[3] ?? 3);
const SIZES = [64, 512, 1400];
const BATCH = 32;

interface Result { name: string; size: number; pps: number; mbps: number }

/** Runs `step` (which handles `per` packets) until `seconds` of wall time pass; rates per CPU second. */
function measure(name: string, size: number, per: number, step: () => void): Result {
  for (let i = 0; i < 200; i++) step(); // warm-up
  const end = performance.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  let packets = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) step();
    packets += 64 * per;
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const pps = packets / cpuS;
  return { name, size, pps, mbps: (pps * size) / 1e6 };
}

function single(implementation: GcmImplementation, size: number): Result {
  const gcm = new EspGcm(randomBytes(36), { implementation });
  const iv = randomBytes(8);
  const aad = randomBytes(8);
  const pt = randomBytes(size);
  const sealed = Buffer.alloc(size + 16);
  const opened = Buffer.alloc(size);
  const ct = sealed.subarray(0, size);
  const icv = sealed.subarray(size);
  return measure(`${implementation} EspGcm`, size, 1, () => {
    gcm.seal(iv, aad, pt, sealed, 0);
    if (gcm.open(iv, aad, ct, icv, opened, 0) !== size) throw new Error('open failed');
  });
}

function batch(size: number): Result {
  const Native = nativeAesGcm();
  if (!Native) throw new Error('native addon not loaded');
  const ctx = new Native(randomBytes(36));
  // Arena: per packet iv(8) ‖ aad(8) ‖ payload ‖ ICV(16), sealed and opened in place.
  const slot = 16 + size + 16;
  const buf = randomBytes(slot * BATCH);
  const desc = new Uint32Array(6 * BATCH);
  for (let i = 0; i < BATCH; i++) desc.set([i * slot, i * slot + 8, 8, i * slot + 16, size, i * slot + 16], 6 * i);
  const results = new Int32Array(BATCH);
  return measure(`native batch×${BATCH}`, size, BATCH, () => {
    ctx.sealBatch(buf, BATCH, desc);
    ctx.openBatch(buf, BATCH, desc, results);
    if (results[BATCH - 1] !== size) throw new Error('open failed');
  });
}

for (let round = 1; round <= rounds; round++) {
  for (const size of SIZES) {
    for (const r of [single('node', size), single('native', size), batch(size)]) {
      console.log(`round ${round}  ${String(r.size).padStart(4)} B  ${r.name.padEnd(16)} ${Math.round(r.pps).toString().padStart(8)} packets/s  ${r.mbps.toFixed(1).padStart(7)} MB/s per core (seal + open, CPU time)`);
    }
  }
}
