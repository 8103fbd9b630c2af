// TCP segmentation and coalescing for a TUN opened with IFF_VNET_HDR: the work a NIC's TSO and the
// kernel's GRO would do, so the data path moves 64 KB super-packets through the TUN instead of
// one system call and one trip through the kernel's stack per 1.4 KB segment. Pure functions over
// byte buffers (no N-API), so they are testable on their own. IPv4 only (the overlay is IPv4).
#pragma once
#include <sys/uio.h>
#include <stddef.h>
#include <stdint.h>

#include <functional>
#include <vector>

#include "checksum.h"

namespace offload {

// struct virtio_net_hdr of <linux/virtio_net.h> (that header does not compile as C++: a field is
// named `class`). Fields in host byte order, as the TUN device uses them by default.
struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
constexpr size_t kVnetHdrLen = sizeof(VnetHdr);  // 10
static_assert(kVnetHdrLen == 10, "virtio_net_hdr is 10 bytes");
constexpr uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE
constexpr uint8_t kGsoTcpV4 = 1;   // VIRTIO_NET_HDR_GSO_TCPV4

// Why a read could not be turned into plain packets.
enum class SplitError { kNone = 0, kMalformed, kUnsupportedGso, kNoRoom };

// Turns one frame read from the TUN (virtio_net_hdr ‖ packet) into complete IPv4 packets with
// correct checksums, written one after another into out[0..cap). meta receives (offset, length)
// pairs; at most metaCap packets. A TCPv4 GSO frame becomes gso_size segments (IP id, length and
// checksum, TCP sequence number, flags and checksum fixed per segment, as the kernel's GSO does);
// a frame with a partial checksum gets it completed. Returns the number of packets, or 0 with
// *err set when the frame is refused.
size_t SplitFrame(const uint8_t* frame, size_t n, uint8_t* out, size_t cap, uint32_t* meta, size_t metaCap,
                  size_t* used, SplitError* err);

// Coalesces runs of in-order TCPv4 segments of one flow (same headers but for length, id,
// checksums, sequence number and PSH) into one GSO frame, as the kernel's GRO does. Every
// segment's IPv4 and TCP checksums are verified before it may join: the merged frame is handed
// to the kernel with a partial checksum, which it trusts. Anything else passes through as is.
// Frames go to `emit` as (iov, count): iov[0] is always the virtio_net_hdr.
class Coalescer {
 public:
  using Emit = std::function<bool(const struct iovec* iov, int count)>;
  explicit Coalescer(Emit emit) : emit_(std::move(emit)) {}
  // `p` must stay valid until Flush() returns.
  void Add(const uint8_t* p, size_t len);
  // Emits everything held.
  void Flush();
  // Input packets in frames the sink accepted / refused since construction.
  uint32_t accepted() const { return accepted_; }
  uint32_t refused() const { return refused_; }

 private:
  static constexpr int kMaxFlows = 8;
  static constexpr int kMaxSegments = 64;
  struct Group {
    bool active = false;
    bool closed = false;  // a short segment or PSH ended it
    const uint8_t* first = nullptr;
    size_t firstLen = 0;
    size_t hdrLen = 0;  // IPv4 + TCP header bytes
    uint16_t mss = 0;
    uint32_t nextSeq = 0;
    size_t payload = 0;
    bool psh = false;
    int count = 0;
    uint64_t age = 0;
    struct iovec seg[kMaxSegments];
    uint8_t hdr[120];
  };
  void FlushGroup(Group& g);
  void EmitPlain(const uint8_t* p, size_t len);
  bool Matches(const Group& g, const uint8_t* p) const;
  void Start(Group& g, const uint8_t* p, size_t len, size_t hdrLen, size_t payload);

  Emit emit_;
  Group groups_[kMaxFlows];
  uint64_t clock_ = 0;
  uint32_t accepted_ = 0;
  uint32_t refused_ = 0;
  VnetHdr plainHdr_ {};
  VnetHdr gsoHdr_ {};
};

}  // namespace offload
