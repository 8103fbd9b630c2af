// One's-complement sums (RFC 1071) for the TUN offload path, with the fastest form this CPU runs
// chosen at load. Pure functions over byte buffers (no N-API).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <vector>

namespace offload {

// Adds the big-endian 16-bit words of p[0..n) to `sum` (not folded; a lone last byte is a high byte).
uint64_t SumBytes(const uint8_t* p, size_t n, uint64_t sum);
uint16_t Fold(uint64_t sum);
// The TCP/UDP pseudo-header sum for IPv4 addresses at ip[12..20).
uint64_t PseudoSum(const uint8_t* ip, uint8_t protocol, uint32_t l4Length);

// Every form of SumBytes this CPU runs, the one in use first: for tests, which check each against
// a reference.
using SumFn = uint64_t (*)(const uint8_t* p, size_t n, uint64_t sum);
struct SumImplementation {
  const char* name;
  SumFn fn;
};
std::vector<SumImplementation> SumImplementations();

}  // namespace offload
