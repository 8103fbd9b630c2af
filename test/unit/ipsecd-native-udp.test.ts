import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openBatchUdp } from '../../src/native/udp.js';
import { waitFor } from '../helpers/netns.js';

// The batched UDP socket of the native addon, on loopback: datagrams queued in one turn leave
// in one sendmmsg; the receiver gets them in batches with their source address and port.

test('batched UDP on 127.0.0.1: sendmmsg out, recvmmsg in, order and bytes kept', async () => {
  const rx = openBatchUdp('127.0.0.1', 0, { batchLimit: 32, gso: false });
  const tx = openBatchUdp('127.0.0.1', 0, { gso: false });
  try {
    assert.ok(rx.port > 0 && tx.port > 0 && rx.port !== tx.port);
    const got: Buffer[] = [];
    const batches: number[] = [];
    let fromOk = true;
    rx.onDatagrams((d, addrs, ports) => {
      batches.push(d.length);
      for (let i = 0; i < d.length; i++) {
        // Datagrams are views into the receive slab, overwritten by the next batch: keep copies.
        got.push(Buffer.from(d[i]!));
        if (addrs[i] !== 0x7f000001 || ports[i] !== tx.port) fromOk = false;
      }
    });
    const sent: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const b = Buffer.alloc(1 + (i % 50) * 20, i);
      sent.push(b);
      tx.send(Buffer.concat([b, Buffer.from('tail not sent')]), b.length, 0x7f000001, rx.port);
    }
    // Sending happens in a microtask: nothing has left yet within this synchronous run.
    assert.equal(tx.flush(), 200);
    await waitFor(() => got.length >= 200, '200 datagrams');
    assert.ok(fromOk, 'source address and port reported');
    assert.deepEqual(got.map((g) => g.toString('hex')), sent.map((s) => s.toString('hex')));
    // batchLimit bounds the reads per batch; without UDP_SEGMENT/UDP_GRO a read is one datagram.
    assert.ok(Math.max(...batches) > 1 && Math.max(...batches) <= 32, `batches ${batches.join(',')}`);
    assert.equal(tx.sendDrops, 0);
    // A zero-length datagram is a datagram too.
    tx.send(Buffer.alloc(0), 0, 0x7f000001, rx.port);
    await waitFor(() => got.length === 201, 'the empty datagram');
    assert.equal(got[200]!.length, 0);
  } finally {
    rx.close();
    tx.close();
    tx.close();
  }
});

test('binding a port in use fails with the errno', () => {
  const a = openBatchUdp('127.0.0.1', 0);
  try {
    assert.throws(() => openBatchUdp('127.0.0.1', a.port), (e: unknown) => (e as { errno?: number }).errno === 98);
    assert.throws(() => openBatchUdp('not-an-ip', 1), /bad IPv4 address/);
  } finally {
    a.close();
  }
});

test('runs of equal-length datagrams to one peer: UDP_SEGMENT out, UDP_GRO in, split back in order', async () => {
  const rx = openBatchUdp('127.0.0.1', 0, { batchLimit: 8, gso: true });
  const tx = openBatchUdp('127.0.0.1', 0, { gso: true });
  try {
    assert.equal(tx.offload, 'gso+gro', 'this kernel offers both offloads');
    const got: Buffer[] = [];
    let batchesOver8 = 0;
    rx.onDatagrams((d) => {
      if (d.length > 8) batchesOver8++;
      for (const x of d) got.push(Buffer.from(x));
    });
    // 3 runs: 100 × 1200 bytes (two sends of at most 64 segments), then one 700-byte tail, then 30 × 1200 again.
    const sent: Buffer[] = [];
    const queue = (len: number, i: number): void => {
      const b = Buffer.alloc(len);
      b.writeUInt32BE(i, 0);
      b.fill(i & 0xff, 4);
      sent.push(b);
      tx.send(b, len, 0x7f000001, rx.port);
    };
    for (let i = 0; i < 100; i++) queue(1200, i);
    queue(700, 100);
    for (let i = 101; i < 131; i++) queue(1200, i);
    assert.equal(tx.flush(), 131);
    await waitFor(() => got.length >= 131, '131 datagrams');
    assert.equal(got.length, 131);
    assert.deepEqual(got.map((g) => g.toString('hex')), sent.map((s) => s.toString('hex')));
    assert.ok(batchesOver8 > 0, 'some read carried a GRO run of several datagrams');
  } finally {
    rx.close();
    tx.close();
  }
});

test('sendAt: datagrams given by offset into one region leave as those bytes; onBatch reads them without views; a span outside its buffer is dropped and counted', async () => {
  const rx = openBatchUdp('127.0.0.1', 0, { batchLimit: 16 });
  const tx = openBatchUdp('127.0.0.1', 0);
  try {
    const got: Buffer[] = [];
    rx.onBatch((slab, meta, count) => {
      for (let i = 0; i < count; i++) {
        assert.equal(meta[4 * i + 2], 0x7f000001);
        assert.equal(meta[4 * i + 3], tx.port);
        got.push(Buffer.from(slab.subarray(meta[4 * i]!, meta[4 * i]! + meta[4 * i + 1]!)));
      }
    });
    const region = Buffer.from(Array.from({ length: 4000 }, (_, i) => i & 0xff));
    const spans: Array<[number, number]> = [[0, 100], [100, 1400], [1504, 7], [3999, 1], [2000, 0]];
    for (const [off, len] of spans) tx.sendAt(region, off, len, 0x7f000001, rx.port);
    // Mixed with a plain send in the same flush.
    tx.send(Buffer.from('plain'), 5, 0x7f000001, rx.port);
    tx.sendAt(region, 3990, 11, 0x7f000001, rx.port); // one byte past the end
    tx.sendAt(region, -1, 4, 0x7f000001, rx.port);
    assert.equal(tx.flush(), spans.length + 1);
    assert.equal(tx.sendDrops, 2);
    await waitFor(() => got.length >= spans.length + 1, 'the datagrams');
    assert.deepEqual(got.map((g) => g.toString('hex')), [...spans.map(([o, l]) => region.subarray(o, o + l).toString('hex')), Buffer.from('plain').toString('hex')]);
  } finally {
    rx.close();
    tx.close();
  }
});

test('queueAt: nothing leaves until flush(), then the batch leaves in order (no microtask of its own)', async () => {
  const rx = openBatchUdp('127.0.0.1', 0, { batchLimit: 16 });
  const tx = openBatchUdp('127.0.0.1', 0);
  try {
    const got: string[] = [];
    rx.onBatch((slab, meta, count) => {
      for (let i = 0; i < count; i++) got.push(slab.toString('utf8', meta[4 * i]!, meta[4 * i]! + meta[4 * i + 1]!));
    });
    const region = Buffer.from('one two three');
    tx.queueAt(region, 0, 3, 0x7f000001, rx.port);
    tx.queueAt(region, 4, 3, 0x7f000001, rx.port);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got.length, 0, 'queued, not sent: no flush was scheduled');
    tx.queueAt(region, 8, 5, 0x7f000001, rx.port);
    assert.equal(tx.flush(), 3);
    await waitFor(() => got.length >= 3, 'the datagrams');
    assert.deepEqual(got, ['one', 'two', 'three']);
  } finally {
    rx.close();
    tx.close();
  }
});

test('UDP_SEGMENT and UDP_GRO are on by default; OVERLAY_IPSEC_UDP_GSO=0 turns them off', () => {
  const saved = process.env['OVERLAY_IPSEC_UDP_GSO'];
  const open = (env: string | undefined): string => {
    if (env === undefined) delete process.env['OVERLAY_IPSEC_UDP_GSO'];
    else process.env['OVERLAY_IPSEC_UDP_GSO'] = env;
    const s = openBatchUdp('127.0.0.1', 0);
    s.close();
    return s.offload;
  };
  try {
    assert.equal(open(undefined), 'gso+gro');
    assert.equal(open('1'), 'gso+gro');
    assert.equal(open('0'), 'none');
  } finally {
    if (saved === undefined) delete process.env['OVERLAY_IPSEC_UDP_GSO'];
    else process.env['OVERLAY_IPSEC_UDP_GSO'] = saved;
  }
});

test('ICMP errors (IP_RECVERR) are read off the error queue: the socket keeps reading, and the next send is not lost to an earlier error', async () => {
  const a = openBatchUdp('127.0.0.1', 0);
  const b = openBatchUdp('127.0.0.1', 0);
  const closed = openBatchUdp('127.0.0.1', 0);
  const deadPort = closed.port;
  closed.close(); // nothing listens there now: a datagram to it earns a port unreachable
  try {
    const atA: string[] = [];
    const atB: string[] = [];
    a.onBatch((slab, meta, count) => {
      for (let i = 0; i < count; i++) atA.push(slab.toString('utf8', meta[4 * i]!, meta[4 * i]! + meta[4 * i + 1]!));
    });
    b.onBatch((slab, meta, count) => {
      for (let i = 0; i < count; i++) atB.push(slab.toString('utf8', meta[4 * i]!, meta[4 * i]! + meta[4 * i + 1]!));
    });
    for (let round = 0; round < 3; round++) {
      a.send(Buffer.from('to nobody'), 9, 0x7f000001, deadPort, true);
      a.flush();
      await waitFor(() => a.sendStats.errorReports > round, `error report ${round + 1}`);
      // The error was reported: a's next send still leaves, and a still reads.
      a.send(Buffer.from(`a${round}`), 2, 0x7f000001, b.port, true);
      a.flush();
      b.send(Buffer.from(`b${round}`), 2, 0x7f000001, a.port, true);
      b.flush();
      await waitFor(() => atB.length > round && atA.length > round, `round ${round}`);
    }
    assert.deepEqual(atB, ['a0', 'a1', 'a2']);
    assert.deepEqual(atA, ['b0', 'b1', 'b2']);
    assert.equal(a.sendDrops, 0, 'a datagram that met an earlier datagram\'s error is sent again, not dropped');
  } finally {
    a.close();
    b.close();
  }
});

test('a send-only socket (never polled) reads its ICMP reports off the error queue when a send meets one', async () => {
  const rx = openBatchUdp('127.0.0.1', 0);
  const closed = openBatchUdp('127.0.0.1', 0);
  const deadPort = closed.port;
  closed.close();
  const tx = openBatchUdp('127.0.0.1', 0); // no onBatch: nothing polls it
  try {
    const got: string[] = [];
    rx.onBatch((slab, meta, count) => {
      for (let i = 0; i < count; i++) got.push(slab.toString('utf8', meta[4 * i]!, meta[4 * i]! + meta[4 * i + 1]!));
    });
    for (let i = 0; i < 3; i++) {
      tx.send(Buffer.from('x'), 1, 0x7f000001, deadPort);
      tx.flush();
      await new Promise((r) => setTimeout(r, 20)); // the port unreachable comes back
      tx.send(Buffer.from(`d${i}`), 2, 0x7f000001, rx.port);
      tx.flush();
    }
    await waitFor(() => got.length >= 3, 'the datagrams after each error');
    assert.deepEqual(got, ['d0', 'd1', 'd2']);
    assert.ok(tx.sendStats.errorReports >= 3, `${tx.sendStats.errorReports} reports read`);
    assert.equal(tx.sendDrops, 0);
  } finally {
    rx.close();
    tx.close();
  }
});
