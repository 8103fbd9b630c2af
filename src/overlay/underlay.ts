/**
 * How Geneve packets cross between nodes. The engine builds whole IPv4(UDP(Geneve)) packets; an
 * underlay carries them. Two implementations:
 *  - UdpUnderlay (udp-underlay.ts): IPsec off — a UDP socket on 6081 receives, a few sockets on
 *    ephemeral ports send (the port chosen by flow hash), so the wire shows the seed's §5.2.
 *  - PacketUnderlay (packet-underlay.ts): IPsec on — packets go to another layer whole (the ESP
 *    data path, which protects UDP 6081 flows in transport mode) and come back whole from it.
 */
export interface UnderlaySink {
  /** A Geneve UDP payload from the underlay address `src` (IPv4 as an unsigned 32-bit number). */
  fromUdp(src: number, payload: Buffer): void;
  /**
   * Optional: Geneve payloads read together (payload i from underlay address srcs[i]), so the
   * inner packets can reach the TUN in one write. The payloads are valid only during the call.
   */
  fromUdpBatch?(payloads: Buffer[], srcs: ArrayLike<number>): void;
  /** Whole IPv4(UDP 6081(Geneve)) packets, e.g. as the ESP layer rebuilds them after decrypting. */
  fromIpv4(packets: Buffer[]): void;
  /**
   * Optional: the IP payload (`length` bytes at `buf[offset]`) of a packet from `src` to `dst`
   * with IP protocol `protocol` — what ESP transport mode decrypts — without an IPv4 header. The
   * inner packet joins the batch written at flushInbound(); `buf` stays valid until then.
   */
  fromTransport?(buf: Buffer, offset: number, length: number, src: number, dst: number, protocol: number): void;
  /** Optional: writes what fromTransport() collected (one TUN write). */
  flushInbound?(): void;
}

/**
 * The ESP data path's way in for transport-mode payloads written in place (EspDataPath's
 * beginTransport … endTransport): a batch region, and per packet the offset to write at.
 */
export interface EspTransportOut {
  beginTransport(count: number, payloadBytes: number): Buffer;
  /** Offset in the region for `length` payload bytes, or -1 (dropped and counted there). */
  reserveTransport(src: number, dst: number, protocol: number, srcPort: number, dstPort: number, length: number): number;
  commitTransport(): void;
  endTransport(): void;
}

/**
 * An underlay that seals Geneve itself (ESP transport mode): the engine writes UDP ‖ Geneve ‖
 * Ethernet ‖ inner packet straight into the batch region of the ESP layer, so no outer IPv4
 * packet is built, copied and parsed again on the way. Per TUN batch: begin() once (lazily, at
 * the first packet it carries), reserve() and commit() per packet, end() once.
 */
export interface TransportUnderlay {
  /** Whether packets for the peer at underlay address `dst` go this way (the others go to send()). */
  carries(dst: number): boolean;
  /** A batch of up to `count` packets of at most `payloadBytes` in all; returns its region. */
  begin(count: number, payloadBytes: number): Buffer;
  /**
   * Where in the region to write the `length`-byte UDP payload from `src` (our underlay
   * address) to `dst`, UDP source port `srcPort`; -1 when it is dropped (counted by the ESP
   * layer: no policy, no SA, …) and nothing is to be written or committed.
   */
  reserve(src: number, dst: number, srcPort: number, length: number): number;
  /** The reserved payload is written. */
  commit(): void;
  /** Seals and sends the batch. */
  end(): void;
}

export interface Underlay {
  /** The outer UDP source port for a flow hash (the plain underlay answers one of its sockets' ports). */
  sourcePort(flowHash: number): number;
  /** Optional: the in-place ESP way for some or all peers (see TransportUnderlay). */
  readonly transport?: TransportUnderlay;
  /**
   * Optional: a buffer for a packet that will be passed to send() in this event-loop turn, when
   * the underlay knows when its packets are done with (see PacketUnderlay).
   */
  allocate?(length: number): Buffer;
  /** Sends whole IPv4(UDP(Geneve)) packets built by the engine. Never throws on a packet. */
  send(packets: Buffer[]): void;
  /** Starts receiving; inbound Geneve goes to `sink`. */
  start(sink: UnderlaySink): Promise<void>;
  /** Stops and releases sockets. Idempotent. */
  close(): Promise<void>;
  /** Its own failure counts, for status (e.g. send_errors). */
  counters(): Record<string, number>;
}
