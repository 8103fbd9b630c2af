#!/usr/bin/python3
"""An impairment relay for the cluster's underlay (a test helper; stdlib only).

This kernel has no sch_netem and nftables cannot delay, so reordering is made here: nftables
rules in the underlay namespace `fwd` every IKE and ESP frame (UDP 500/4500) a node sends into
the TAP device this process owns; the relay drops some, holds some for a random delay (so later
frames overtake them), duplicates some, and writes what survives back into the TAP, whose own
ingress hook `fwd`s each frame to the port of the node it is addressed to.

Every decision comes from one seeded generator, so a run can be replayed. The relay counts what
it did per direction ("<src ip>><dst ip>") and kind (ike, esp), and how much reordering it
actually produced: an original frame delivered after a frame that reached the relay later
(`reordered`) and, for ESP, how far behind the highest sequence number already delivered on
its SPI it went out (`max_depth`). A JSON line of counts goes to stdout every 250 ms and on
SIGTERM, then the relay exits.

usage: impair-relay.py TAP SEED LOSS_PCT DUP_PCT REORDER_PCT MAX_DELAY_MS
"""
import errno
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_IP = 0x0800
REPORT_EVERY = 0.25


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def classify(frame):
    """(direction, kind, spi, seq) of an IPv4 UDP 500/4500 frame, or None for anything else."""
    if len(frame) < 14 + 20 + 8 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
        return None
    ihl = (frame[14] & 0x0F) * 4
    if frame[14] >> 4 != 4 or frame[14 + 9] != 17 or len(frame) < 14 + ihl + 8:
        return None
    src = ".".join(str(b) for b in frame[26:30])
    dst = ".".join(str(b) for b in frame[30:34])
    udp = 14 + ihl
    sport, dport = struct.unpack_from("!HH", frame, udp)
    payload = frame[udp + 8:]
    if 4500 not in (sport, dport) and 500 not in (sport, dport):
        return None
    direction = f"{src}>{dst}"
    # RFC 3948 on 4500: a zero marker is IKE, a lone 0xff a NAT keepalive, else ESP (SPI, seq).
    if sport == 4500 or dport == 4500:
        if len(payload) >= 8 and payload[:4] != b"\0\0\0\0":
            spi, seq = struct.unpack_from("!II", payload, 0)
            return direction, "esp", spi, seq
        if len(payload) == 1:
            return direction, "keepalive", None, None
    return direction, "ike", None, None


class Counts:
    def __init__(self):
        self.by = {}

    def of(self, direction, kind):
        d = self.by.setdefault(direction, {})
        return d.setdefault(kind, {"seen": 0, "dropped": 0, "duplicated": 0, "delayed": 0,
                                   "delivered": 0, "reordered": 0, "max_depth": 0})


def main():
    tap, seed, loss, dup, reorder, max_delay = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:7])
    rng = random.Random(seed)
    fd = open_tap(tap)
    counts = Counts()
    other = {"ignored": 0, "write_errors": 0}
    held = []  # heap of (due, tiebreak, frame, meta)
    arrival = {}  # direction -> arrivals so far
    latest_delivered = {}  # direction -> highest arrival index of an original delivered
    top_seq = {}  # spi -> highest ESP sequence number delivered
    tiebreak = 0
    stopping = False

    def report():
        sys.stdout.write(json.dumps({"directions": counts.by, **other}) + "\n")
        sys.stdout.flush()

    def on_term(_sig, _frm):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    sys.stdout.write(json.dumps({"ready": True, "tap": tap}) + "\n")
    sys.stdout.flush()

    def delay():
        return rng.uniform(1.0, max_delay) / 1000 if rng.random() * 100 < reorder else 0.0

    def deliver(frame, meta):
        direction, kind, spi, seq, index, original = meta
        try:
            os.write(fd, frame)
        except OSError:
            other["write_errors"] += 1
            return
        c = counts.of(direction, kind)
        c["delivered"] += 1
        if not original:
            return
        if index < latest_delivered.get(direction, -1):
            c["reordered"] += 1
        else:
            latest_delivered[direction] = index
        if kind == "esp":
            top = top_seq.get(spi, 0)
            if seq < top:
                c["max_depth"] = max(c["max_depth"], top - seq)
            else:
                top_seq[spi] = seq

    def send(frame, meta, wait):
        nonlocal tiebreak
        if wait == 0.0:
            deliver(frame, meta)
            return
        counts.of(meta[0], meta[1])["delayed"] += 1
        tiebreak += 1
        heapq.heappush(held, (time.monotonic() + wait, tiebreak, frame, meta))

    next_report = time.monotonic() + REPORT_EVERY
    while not stopping:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, frame, meta = heapq.heappop(held)
            deliver(frame, meta)
        if now >= next_report:
            report()
            next_report = now + REPORT_EVERY
        timeout = next_report - now
        if held:
            timeout = min(timeout, max(0.0, held[0][0] - now))
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
        except InterruptedError:
            continue
        if not ready:
            continue
        while True:
            try:
                frame = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                raise
            what = classify(frame)
            if what is None:
                other["ignored"] += 1  # e.g. the TAP's own IPv6 neighbour discovery
                continue
            direction, kind, spi, seq = what
            index = arrival.get(direction, 0)
            arrival[direction] = index + 1
            c = counts.of(direction, kind)
            c["seen"] += 1
            if rng.random() * 100 < loss:
                c["dropped"] += 1
                continue
            send(frame, (direction, kind, spi, seq, index, True), delay())
            if rng.random() * 100 < dup:
                c["duplicated"] += 1
                send(frame, (direction, kind, spi, seq, index, False), delay())
    # Frames still held when stopped are delivered, so every count adds up.
    for _, _, frame, meta in sorted(held):
        deliver(frame, meta)
    report()


if __name__ == "__main__":
    main()
