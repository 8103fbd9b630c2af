/**
 * The byte layout of the packets the overlay sends, outermost first:
 *
 *   IPv4 (20, DF, TTL 64, proto 17) ‖ UDP (8, dport 6081) ‖ Geneve (8) ‖ OVN option (8)
 *   ‖ Ethernet (14, type 0x0800) ‖ inner IPv4 packet
 *
 * Geneve (RFC 8926 §3.4): Ver(2)=0 ‖ Opt Len(6, 4-byte words) ‖ O ‖ C ‖ Rsvd(6) ‖ Protocol Type(16)
 * ‖ VNI(24) ‖ Reserved(8). The option is OVN's (class 0x0102, type 0x80 — the high type bit makes it
 * critical, hence the C flag tcpdump shows as `Flags [C]` in the seed's §5.2 — length 1 word):
 * 0 ‖ logical ingress port (15 bits) ‖ logical egress port (16 bits). With it the Geneve part is 16
 * bytes, matching the seed's `options [8 bytes]`.
 */
export const GENEVE_PORT = 6081;
export const ETHERTYPE_TEB = 0x6558;
export const ETHERTYPE_IPV4 = 0x0800;
export const OVN_OPTION_CLASS = 0x0102;
export const OVN_OPTION_TYPE = 0x80;
export const GENEVE_VERSION = 0;
export const GENEVE_FLAG_OAM = 0x80;
export const GENEVE_FLAG_CRITICAL = 0x40;
export const OPTION_TYPE_CRITICAL = 0x80;

export const IPV4_HEADER = 20;
export const UDP_HEADER = 8;
export const GENEVE_HEADER = 8;
export const OVN_OPTION_LENGTH = 8;
export const ETHERNET_HEADER = 14;

export const OFF_UDP = IPV4_HEADER;
export const OFF_GENEVE = OFF_UDP + UDP_HEADER;
export const OFF_OPTION = OFF_GENEVE + GENEVE_HEADER;
export const OFF_ETHERNET = OFF_OPTION + OVN_OPTION_LENGTH;
export const OFF_INNER = OFF_ETHERNET + ETHERNET_HEADER;
/** Bytes the overlay adds in front of an inner IPv4 packet (58). */
export const ENCAP_OVERHEAD = OFF_INNER;
