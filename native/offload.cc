// TCP segmentation (TSO done in userspace) and coalescing (GRO) for IPv4 over a vnet-header TUN.
#include "offload.h"

#include <string.h>

namespace offload {

namespace {

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20, kEce = 0x40, kCwr = 0x80;
constexpr uint8_t kProtoTcp = 6, kProtoUdp = 17;

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}

void SetIpChecksum(uint8_t* ip, size_t ihl) {
  Put16(ip + 10, 0);
  Put16(ip + 10, static_cast<uint16_t>(~Fold(SumBytes(ip, ihl, 0))));
}

}  // namespace

size_t SplitFrame(const uint8_t* frame, size_t n, uint8_t* out, size_t cap, uint32_t* meta, size_t metaCap,
                  size_t* used, SplitError* err) {
  *used = 0;
  *err = SplitError::kNone;
  if (n < kVnetHdrLen) {
    *err = SplitError::kMalformed;
    return 0;
  }
  VnetHdr h;
  memcpy(&h, frame, kVnetHdrLen);
  const uint8_t* p = frame + kVnetHdrLen;
  const size_t len = n - kVnetHdrLen;

  if (h.gso_type == kGsoNone) {
    if (len > cap || metaCap < 1) {
      *err = SplitError::kNoRoom;
      return 0;
    }
    memcpy(out, p, len);
    if (h.flags & kNeedsCsum) {
      // The field holds the pseudo-header sum; summing from csum_start over it completes it.
      const size_t start = h.csum_start, field = start + h.csum_offset;
      if (field + 2 > len) {
        *err = SplitError::kMalformed;
        return 0;
      }
      uint16_t c = static_cast<uint16_t>(~Fold(SumBytes(out + start, len - start, 0)));
      const bool udp = len >= 20 && (out[0] >> 4) == 4 && out[9] == kProtoUdp;
      if (c == 0 && udp) c = 0xffff;  // RFC 768: a computed zero is sent as all ones
      Put16(out + field, c);
    }
    meta[0] = 0;
    meta[1] = static_cast<uint32_t>(len);
    *used = len;
    return 1;
  }
  if (h.gso_type != kGsoTcpV4) {
    *err = SplitError::kUnsupportedGso;
    return 0;
  }
  if (len < 40 || (p[0] >> 4) != 4 || p[9] != kProtoTcp || h.gso_size == 0) {
    *err = SplitError::kMalformed;
    return 0;
  }
  const size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
  if (ihl < 20 || ihl + 20 > len) {
    *err = SplitError::kMalformed;
    return 0;
  }
  const size_t doff = static_cast<size_t>(p[ihl + 12] >> 4) * 4;
  const size_t hdrLen = ihl + doff;
  if (doff < 20 || hdrLen > len) {
    *err = SplitError::kMalformed;
    return 0;
  }
  const size_t payload = len - hdrLen;
  const size_t mss = h.gso_size;
  const size_t segs = payload == 0 ? 1 : (payload + mss - 1) / mss;
  if (segs * hdrLen + payload > cap || segs > metaCap) {
    *err = SplitError::kNoRoom;
    return 0;
  }
  const uint16_t id0 = Be16(p + 4);
  const uint32_t seq0 = Be32(p + ihl + 4);
  const uint8_t flags = p[ihl + 13];
  size_t off = 0;
  for (size_t i = 0; i < segs; i++) {
    const size_t chunk = payload == 0 ? 0 : (i + 1 < segs ? mss : payload - i * mss);
    uint8_t* o = out + off;
    memcpy(o, p, hdrLen);
    memcpy(o + hdrLen, p + hdrLen + i * mss, chunk);
    const size_t total = hdrLen + chunk;
    // As the kernel's inet_gso_segment / tcp_gso_segment: ids count up, FIN and PSH only on the
    // last segment, CWR only on the first.
    Put16(o + 2, static_cast<uint16_t>(total));
    Put16(o + 4, static_cast<uint16_t>(id0 + i));
    SetIpChecksum(o, ihl);
    uint8_t* t = o + ihl;
    Put32(t + 4, seq0 + static_cast<uint32_t>(i * mss));
    uint8_t f = flags;
    if (i + 1 < segs) f &= static_cast<uint8_t>(~(kFin | kPsh));
    if (i > 0) f &= static_cast<uint8_t>(~kCwr);
    t[13] = f;
    Put16(t + 16, 0);
    const uint32_t l4 = static_cast<uint32_t>(doff + chunk);
    Put16(t + 16, static_cast<uint16_t>(~Fold(SumBytes(t, l4, PseudoSum(o, kProtoTcp, l4)))));
    meta[2 * i] = static_cast<uint32_t>(off);
    meta[2 * i + 1] = static_cast<uint32_t>(total);
    off += total;
  }
  *used = off;
  return segs;
}

namespace {

// A TCPv4 segment that may join a coalesced frame: no IP options, not a fragment, payload, ACK
// and at most PSH besides, both checksums good. Sets the header and payload lengths.
bool Candidate(const uint8_t* p, size_t len, size_t* hdrLen, size_t* payload) {
  if (len < 40 || p[0] != 0x45 || Be16(p + 2) != len || (Be16(p + 6) & 0x3fff) != 0 || p[9] != kProtoTcp) return false;
  const size_t doff = static_cast<size_t>(p[32] >> 4) * 4;
  if (doff < 20 || 20 + doff >= len) return false;
  const uint8_t f = p[33];
  if ((f & (kSyn | kFin | kRst | kUrg | kCwr | kEce)) != 0 || (f & kAck) == 0) return false;
  if (Fold(SumBytes(p, 20, 0)) != 0xffff) return false;
  const uint32_t l4 = static_cast<uint32_t>(len - 20);
  if (Fold(SumBytes(p + 20, l4, PseudoSum(p, kProtoTcp, l4))) != 0xffff) return false;
  *hdrLen = 20 + doff;
  *payload = len - *hdrLen;
  return true;
}

// Same addresses and ports (the flow), for packets with a 20-byte IPv4 header carrying TCP.
bool SameFlow(const uint8_t* a, const uint8_t* b) { return memcmp(a + 12, b + 12, 12) == 0; }

bool IsSimpleTcp(const uint8_t* p, size_t len) { return len >= 40 && p[0] == 0x45 && p[9] == kProtoTcp; }

}  // namespace

bool Coalescer::Matches(const Group& g, const uint8_t* p) const {
  const uint8_t* f = g.first;
  const size_t doff = g.hdrLen - 20;
  return p[1] == f[1] && (p[6] & 0x40) == (f[6] & 0x40) && p[8] == f[8] && SameFlow(p, f) &&
         memcmp(p + 28, f + 28, 5) == 0 &&                           // ack, data offset
         (p[33] & ~kPsh) == (f[33] & ~kPsh) &&                       // flags but PSH
         memcmp(p + 34, f + 34, 2) == 0 && memcmp(p + 38, f + 38, 2) == 0 &&  // window, urgent
         memcmp(p + 40, f + 40, doff - 20) == 0 &&                   // options (timestamps) equal
         Be32(p + 24) == g.nextSeq;
}

void Coalescer::Start(Group& g, const uint8_t* p, size_t len, size_t hdrLen, size_t payload) {
  g.active = true;
  g.first = p;
  g.firstLen = len;
  g.hdrLen = hdrLen;
  g.mss = static_cast<uint16_t>(payload);
  g.nextSeq = Be32(p + 24) + static_cast<uint32_t>(payload);
  g.payload = payload;
  g.psh = (p[33] & kPsh) != 0;
  g.closed = g.psh;
  g.count = 1;
  g.age = clock_++;
  g.seg[0].iov_base = const_cast<uint8_t*>(p + hdrLen);
  g.seg[0].iov_len = payload;
}

void Coalescer::Add(const uint8_t* p, size_t len) {
  size_t hdrLen = 0, payload = 0;
  if (!Candidate(p, len, &hdrLen, &payload)) {
    // Whatever else a held flow sends must not overtake its held segments.
    if (IsSimpleTcp(p, len)) {
      for (Group& g : groups_) {
        if (g.active && SameFlow(g.first, p)) FlushGroup(g);
      }
    }
    EmitPlain(p, len);
    return;
  }
  Group* free = nullptr;
  Group* oldest = nullptr;
  for (Group& g : groups_) {
    if (!g.active) {
      if (free == nullptr) free = &g;
      continue;
    }
    if (SameFlow(g.first, p)) {
      if (!g.closed && g.count < kMaxSegments && payload <= g.mss && g.hdrLen + g.payload + payload <= 65535 && Matches(g, p)) {
        g.seg[g.count].iov_base = const_cast<uint8_t*>(p + hdrLen);
        g.seg[g.count].iov_len = payload;
        g.count++;
        g.payload += payload;
        g.nextSeq += static_cast<uint32_t>(payload);
        if ((p[33] & kPsh) != 0) g.psh = true;
        if (payload < g.mss || g.psh) g.closed = true;
        return;
      }
      FlushGroup(g);
      Start(g, p, len, hdrLen, payload);
      return;
    }
    if (oldest == nullptr || g.age < oldest->age) oldest = &g;
  }
  Group* g = free;
  if (g == nullptr) {
    g = oldest;
    FlushGroup(*g);
  }
  Start(*g, p, len, hdrLen, payload);
}

void Coalescer::EmitPlain(const uint8_t* p, size_t len) {
  struct iovec iov[2] = {{&plainHdr_, kVnetHdrLen}, {const_cast<uint8_t*>(p), len}};
  if (emit_(iov, 2)) accepted_++;
  else refused_++;
}

void Coalescer::FlushGroup(Group& g) {
  if (!g.active) return;
  g.active = false;
  if (g.count == 1) {
    EmitPlain(g.first, g.firstLen);
    return;
  }
  uint8_t* h = g.hdr;
  memcpy(h, g.first, g.hdrLen);
  const size_t total = g.hdrLen + g.payload;
  Put16(h + 2, static_cast<uint16_t>(total));
  SetIpChecksum(h, 20);
  if (g.psh) h[33] |= kPsh;
  // A partial checksum: the pseudo-header sum, folded and not complemented (as tcp_v4_send_check).
  Put16(h + 36, Fold(PseudoSum(h, kProtoTcp, static_cast<uint32_t>(total - 20))));
  gsoHdr_.flags = kNeedsCsum;
  gsoHdr_.gso_type = kGsoTcpV4;
  gsoHdr_.hdr_len = static_cast<uint16_t>(g.hdrLen);
  gsoHdr_.gso_size = g.mss;
  gsoHdr_.csum_start = 20;
  gsoHdr_.csum_offset = 16;
  struct iovec iov[2 + kMaxSegments];
  iov[0] = {&gsoHdr_, kVnetHdrLen};
  iov[1] = {h, g.hdrLen};
  for (int i = 0; i < g.count; i++) iov[2 + i] = g.seg[i];
  if (emit_(iov, 2 + g.count)) accepted_ += static_cast<uint32_t>(g.count);
  else refused_ += static_cast<uint32_t>(g.count);
}

void Coalescer::Flush() {
  // Oldest first, so flows leave in roughly the order they arrived.
  for (;;) {
    Group* oldest = nullptr;
    for (Group& g : groups_) {
      if (g.active && (oldest == nullptr || g.age < oldest->age)) oldest = &g;
    }
    if (oldest == nullptr) return;
    FlushGroup(*oldest);
  }
}

}  // namespace offload
