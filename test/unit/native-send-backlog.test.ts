import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EAGAIN, ENOBUFS, SendBacklog } from '../../src/native/send-backlog.js';
import { wrapBatchUdp } from '../../src/native/udp.js';
import type { NativeUdpSocket } from '../../src/native/tun.js';

/**
 * Sends the kernel refuses for now (EAGAIN: send buffer full; ENOBUFS: no room below the socket)
 * are held and sent again, bounded, and counted by cause when dropped: the backlog alone, then the
 * socket wrapper around a native socket that refuses on cue.
 */

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

test('the backlog copies what it holds, keeps order, and frees room as the kernel takes datagrams', () => {
  const b = new SendBacklog({ importantBytes: 100, bulkBytes: 50 });
  const region = bytes(64, 7);
  assert.ok(b.hold(region, 10, 30, 1, 500, true));
  region.fill(9); // the caller reuses its buffer: the held copy keeps the bytes it had
  assert.ok(b.hold(region, 0, 20, 2, 4500, false));
  assert.deepEqual(b.datagrams.map((d) => [d.data.byteLength, d.data[0], d.addr, d.port, d.important]), [[30, 7, 1, 500, true], [20, 9, 2, 4500, false]]);
  b.taken(1);
  assert.equal(b.size, 1);
  assert.equal(b.datagrams[0]!.addr, 2);
  assert.equal(b.counters.held, 2);
  assert.equal(b.counters.resent, 1);
});

test('bounds are per class, and what does not fit is dropped and counted by class', () => {
  const b = new SendBacklog({ importantBytes: 100, bulkBytes: 50 });
  assert.ok(b.hold(bytes(40, 0), 0, 40, 1, 1, false));
  assert.equal(b.hold(bytes(20, 0), 0, 20, 1, 1, false), false, 'bulk over 50 bytes');
  assert.ok(b.hold(bytes(90, 0), 0, 90, 1, 1, true), 'important has room of its own');
  assert.equal(b.hold(bytes(20, 0), 0, 20, 1, 1, true), false, 'important over 100 bytes');
  assert.equal(b.counters.droppedBulk, 1);
  assert.equal(b.counters.droppedImportant, 1);
  b.taken(1); // the bulk one left: its room is back
  assert.ok(b.hold(bytes(50, 0), 0, 50, 1, 1, false));
  b.clear();
  assert.equal(b.size, 0);
  assert.equal(b.counters.droppedClosed, 2);
});

test('EAGAIN waits for writability; ENOBUFS pauses, doubling to a ceiling, and progress resets the pause', () => {
  const b = new SendBacklog();
  assert.equal(b.refused(EAGAIN), 'writable');
  const pauses = Array.from({ length: 10 }, () => b.refused(ENOBUFS));
  assert.deepEqual(pauses, [5, 10, 20, 40, 80, 160, 320, 500, 500, 500]);
  b.hold(bytes(1, 0), 0, 1, 1, 1, true);
  b.taken(1);
  assert.equal(b.refused(ENOBUFS), 5);
  assert.equal(b.counters.refusedFull, 1);
  assert.equal(b.counters.refusedNoBuffers, 11);
});

/** A native socket that takes `budget` datagrams, then refuses with `refusal` until given more. */
class FakeSocket implements NativeUdpSocket {
  readonly fd = -1;
  readonly port = 1;
  readonly offload = 'none';
  sendErrors = 0;
  readonly errorReports = 0;
  refusal = 0;
  budget = Infinity;
  mode = EAGAIN;
  /** Every datagram the kernel took: [first byte, address, port]. */
  readonly wire: [number, number, number][] = [];
  writable: (() => void) | undefined;
  closed = false;
  start(): void {}
  sendBatch(bufs: Uint8Array[], count: number, lengths: Uint32Array, addrs: Uint32Array, ports: Uint32Array, offsets?: Uint32Array): number {
    this.refusal = 0;
    for (let i = 0; i < count; i++) {
      if (this.budget <= 0) {
        this.refusal = this.mode;
        return i;
      }
      this.budget--;
      assert.ok(lengths[i]! > 0);
      this.wire.push([bufs[i]![offsets?.[i] ?? 0]!, addrs[i]!, ports[i]!]);
    }
    return count;
  }
  waitWritable(cb: () => void): void {
    this.writable = cb;
  }
  close(): void {
    this.closed = true;
  }
}

test('a full send buffer: the refused datagrams are held, new ones queue behind them, all leave in order once writable', () => {
  const sock = new FakeSocket();
  const udp = wrapBatchUdp(sock, 8);
  sock.budget = 2;
  for (let i = 1; i <= 4; i++) udp.send(bytes(10, i), 10, 100 + i, 500, true);
  assert.equal(udp.flush(), 2);
  assert.deepEqual(sock.wire.map((w) => w[0]), [1, 2]);
  assert.ok(sock.writable, 'waits for writability');
  // While waiting, a data-path batch (bulk, from a region reused after the flush) joins the queue.
  const region = bytes(30, 0);
  region.fill(5, 0, 10);
  region.fill(6, 10, 20);
  udp.queueAt(region, 0, 10, 200, 4500);
  udp.queueAt(region, 10, 10, 200, 4500);
  assert.equal(udp.flush(), 0, 'nothing tried while the wait is armed');
  region.fill(0xee); // reused by the data path
  assert.equal(sock.wire.length, 2);
  sock.budget = Infinity;
  const writable = sock.writable!;
  sock.writable = undefined;
  writable();
  assert.deepEqual(sock.wire.map((w) => w[0]), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(sock.wire.map((w) => w[1]), [101, 102, 103, 104, 200, 200]);
  const s = udp.sendStats;
  assert.equal(s.refusedFull, 1);
  assert.equal(s.held, 4);
  assert.equal(s.resent, 4);
  assert.equal(s.heldNow, 0);
  assert.equal(udp.sendDrops, 0);
  // Back to the direct path: the next flush goes straight to the socket.
  udp.send(bytes(10, 7), 10, 1, 500, true);
  assert.equal(udp.flush(), 1);
  assert.equal(sock.wire.at(-1)![0], 7);
});

test('no buffers below the socket: retried after a pause without any writability to wait for', async () => {
  const sock = new FakeSocket();
  const udp = wrapBatchUdp(sock, 8);
  sock.budget = 0;
  sock.mode = ENOBUFS;
  udp.send(bytes(10, 1), 10, 1, 500, true);
  udp.flush();
  assert.equal(sock.writable, undefined);
  assert.equal(udp.sendStats.refusedNoBuffers, 1);
  await new Promise((r) => setTimeout(r, 30)); // first pause 5 ms: refused again (10 ms), still refused
  assert.ok(udp.sendStats.refusedNoBuffers >= 2, `${udp.sendStats.refusedNoBuffers} refusals`);
  assert.equal(sock.wire.length, 0);
  sock.budget = Infinity;
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(sock.wire.map((w) => w[0]), [1]);
  assert.equal(udp.sendStats.heldNow, 0);
  assert.equal(udp.sendDrops, 0);
  udp.close();
});

test('bulk datagrams over their bound are dropped while IKE messages are kept; what is held at close is counted', () => {
  const sock = new FakeSocket();
  const udp = wrapBatchUdp(sock, 8, { importantBytes: 1000, bulkBytes: 100 });
  sock.budget = 0;
  for (let i = 0; i < 20; i++) udp.queueAt(bytes(10, i), 0, 10, 1, 4500);
  for (let i = 0; i < 5; i++) udp.send(bytes(100, 100 + i), 100, 2, 500, true);
  udp.flush();
  const s = udp.sendStats;
  assert.equal(s.heldNow, 10 + 5, '100 bytes of bulk, all five IKE messages');
  assert.equal(s.droppedBulk, 10);
  assert.equal(s.droppedImportant, 0);
  assert.equal(udp.sendDrops, 10);
  udp.close(); // a last try, refused: the rest is dropped and counted
  assert.ok(sock.closed);
  assert.equal(udp.sendStats.droppedClosed, 15);
  assert.equal(udp.sendDrops, 25);
});

test('datagrams the kernel refuses for good are counted once and not held', () => {
  const sock = new FakeSocket();
  const udp = wrapBatchUdp(sock, 8);
  sock.sendErrors = 3; // what the native socket counted (no route, …)
  udp.send(bytes(10, 1), 10, 1, 500, true);
  assert.equal(udp.flush(), 1);
  assert.equal(udp.sendDrops, 3);
  assert.equal(udp.sendStats.errors, 3);
  assert.equal(udp.sendStats.heldNow, 0);
});
