/**
 * The data path's I/O seam: it is handed these writers and never owns a TUN or a socket (the
 * daemon's IPsec stack, a test or a benchmark supplies them).
 */

/**
 * Where decrypted packets go. The data path keeps no reference to what it hands over, but a
 * packet may be a view into the datagram buffer it was decrypted in (in place): the writer must
 * be done with it before that buffer is reused — the next batch of datagrams read.
 */
export interface TunWriter {
  /** Whole IPv4 packets: once per batch of datagrams (flushUdpEsp), with every packet of it. */
  write(packets: Buffer[]): void;
  /**
   * Optional, transport mode: a decrypted payload (`length` bytes at `payload[offset]`) from IPv4
   * `src` to `dst` with IP protocol `protocol`, handed over without an IPv4 header (the consumer
   * would only parse it again). Without it, the data path rebuilds the header and uses write().
   */
  writeTransport?(payload: Buffer, offset: number, length: number, src: number, dst: number, protocol: number): void;
  /** Optional: the end of a batch of datagrams (after its write()/writeTransport() calls). */
  endBatch?(): void;
  /**
   * Optional: a buffer for a packet that will be passed to write() now; the writer decides how
   * long it lives (e.g. until its batch reaches the TUN). Without it each packet is allocated.
   */
  allocate?(length: number): Buffer;
}

/** Where ESP-in-UDP leaves, from local port 4500. The datagram buffer is handed over, never reused. */
export interface UdpSender {
  send(datagram: Buffer, length: number, port: number, address: string): void;
  /**
   * Optional: `length` bytes of `region` from `offset` to `address` (IPv4 as a number). A batch's
   * packets are sealed in one region; with this they leave without a view made per packet.
   */
  sendAt?(region: Buffer, offset: number, length: number, port: number, address: number): void;
  /**
   * Optional: called once the packets of one TUN batch were handed over: send them now. A sender
   * with flush() may hold sendAt() datagrams until it is called (no deferral to a later turn).
   */
  flush?(): void;
  /** Optional: a buffer for a datagram that will be passed to send() now (see TunWriter.allocate). */
  allocate?(length: number): Buffer;
}
