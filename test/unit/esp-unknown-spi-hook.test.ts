import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EspDataPath } from '../../src/esp/datapath.js';
import { cidrSelector } from '../../src/wire/traffic-selector.js';

// The data path's one report to its owner about ESP for SPIs it does not know (the node agent
// initiates on it when it holds no IKE SA to the sender: src/agent/unknown-spi.ts). Called once
// per such packet, after it is counted as unknown_spi, with the SPI and the sender; never for a
// packet of an installed SA, nor for one too short to carry an SPI.

const FROM = { address: '198.18.0.2', port: 4500 };

function espDatagram(spi: number, seq: number, length = 64): Buffer {
  const d = randomBytes(length);
  d.writeUInt32BE(spi, 0);
  d.writeUInt32BE(seq, 4);
  return d;
}

test('onUnknownSpi: called once per unknown-SPI packet, after counting, with SPI and sender; not for installed SAs or runts', () => {
  const calls: { spi: number; from: { address: string; port: number }; counted: number }[] = [];
  const dp: EspDataPath = new EspDataPath({
    tun: { write: () => {} },
    udp: { send: () => {} },
    now: () => 1_700_000_000_000,
    onUnknownSpi: (spi, from) => calls.push({ spi, from, counted: dp.status().drops.unknown_spi }),
  });
  dp.installChild({
    name: 'c1', mode: 'transport', local: '198.18.0.1', remote: FROM.address, remotePort: 4500,
    localTs: [cidrSelector('198.18.0.1/32', 17)], remoteTs: [cidrSelector(`${FROM.address}/32`, 17)],
    spiIn: 0x1001, spiOut: 0x2002, keyIn: randomBytes(36), keyOut: randomBytes(36),
  });
  for (let i = 1; i <= 3; i++) dp.onUdpEsp(espDatagram(0xdead0000 + i, i), 0, 64, FROM);
  dp.onUdpEsp(espDatagram(0x1001, 1), 0, 64, FROM); // installed SA: refused for its ICV, not reported
  dp.onUdpEsp(Buffer.from([1, 2, 3]), 0, 3, FROM); // no SPI to report: malformed
  assert.deepEqual(calls.map((c) => c.spi), [0xdead0001, 0xdead0002, 0xdead0003]);
  assert.deepEqual(calls.map((c) => c.counted), [1, 2, 3], 'reported after it was counted');
  assert.deepEqual(calls[0]!.from, FROM);
  const drops = dp.status().drops;
  assert.equal(drops.unknown_spi, 3);
  assert.equal(drops.auth_failed, 1);
  assert.equal(drops.malformed, 1);
});
