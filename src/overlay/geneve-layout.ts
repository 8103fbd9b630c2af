import { ETHERNET_HEADER_LENGTH } from '../wire/ethernet.js';
import { GENEVE_HEADER_LENGTH, GENEVE_OPTION_HEADER_LENGTH } from '../wire/geneve.js';
import { IPV4_MIN_HEADER_LENGTH } from '../wire/ipv4.js';
import { UDP_HEADER_LENGTH } from '../wire/udp.js';

/**
 * The byte layout of the packets the overlay sends, outermost first:
 *
 *   IPv4 (20, DF, TTL 64, proto 17) ‖ UDP (8, dport 6081) ‖ Geneve (8) ‖ OVN option (4 + 4)
 *   ‖ Ethernet (14, type 0x0800) ‖ inner IPv4 packet
 *
 * The option is OVN's (class 0x0102, type 0x80 — the high type bit makes it critical, hence the C
 * flag tcpdump prints as `Flags [C]` in the seed's §5.2 — length 1 word): 0 ‖ logical ingress port
 * (15 bits) ‖ logical egress port (16 bits). With it the options are the seed's `[8 bytes]`.
 */
export const OVN_OPTION_DATA_LENGTH = 4;

export const OFF_UDP = IPV4_MIN_HEADER_LENGTH;
export const OFF_GENEVE = OFF_UDP + UDP_HEADER_LENGTH;
export const OFF_OPTION = OFF_GENEVE + GENEVE_HEADER_LENGTH;
export const OFF_ETHERNET = OFF_OPTION + GENEVE_OPTION_HEADER_LENGTH + OVN_OPTION_DATA_LENGTH;
export const OFF_INNER = OFF_ETHERNET + ETHERNET_HEADER_LENGTH;
/** Bytes the overlay adds in front of an inner IPv4 packet (58). */
export const ENCAP_OVERHEAD = OFF_INNER;
