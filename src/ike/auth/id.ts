import { isIPv6 } from 'node:net';
import { addressBytes, parseIpv4 } from '../../wire/address.js';
import {
  ID_DER_ASN1_DN, ID_FQDN, ID_IPV4_ADDR, ID_IPV6_ADDR, ID_KEY_ID, ID_RFC822_ADDR,
} from './constants.js';
import { decodeDn, dnEquals, dnToString, encodeDn, looksLikeDn, parseDnString } from './dn.js';

/** An IKE identity: the ID payload's type and identification data (RFC 7296 §3.5). */
export interface IkeId {
  type: number;
  data: Buffer;
}

/** Thrown for an id string that cannot be parsed; the message says what is wrong. */
export class IdSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdSyntaxError';
  }
}

function hexBytes(hex: string, whole: string): Buffer {
  const clean = hex.replace(/^0x/i, '').replace(/:/g, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(clean)) throw new IdSyntaxError(`bad hex key id in "${whole}"`);
  return Buffer.from(clean, 'hex');
}

/**
 * Parses an id as strongSwan's swanctl.conf does: `a.example` and `@a.example` → FQDN,
 * `C=XX, O=Lab, CN=x` → DN, `192.0.2.1` → IPv4, `user@a.example` → RFC822, `@#0a1b` → KEY_ID,
 * and the explicit prefixes `fqdn:`, `dns:`, `email:`, `rfc822:`, `ipv4:`, `ipv6:`, `asn1dn:`,
 * `keyid:` (`keyid:#hex` for hex). Returns null for `%any` (matches every peer).
 */
export function parseIdString(input: string): IkeId | null {
  const s = input.trim();
  if (s === '' || s === '%any' || s === '%any6') return null;
  const prefixed = /^([a-z0-9]+):(.*)$/i.exec(s);
  if (prefixed && !isIPv6(s)) {
    const [, kind, rest] = prefixed as unknown as [string, string, string];
    switch (kind.toLowerCase()) {
      case 'fqdn': case 'dns': return { type: ID_FQDN, data: Buffer.from(rest, 'utf8') };
      case 'email': case 'rfc822': case 'userfqdn': return { type: ID_RFC822_ADDR, data: Buffer.from(rest, 'utf8') };
      case 'ipv4':
        if (parseIpv4(rest) === null) throw new IdSyntaxError(`"${input}": not an IPv4 address`);
        return { type: ID_IPV4_ADDR, data: addressBytes(rest)! };
      case 'ipv6':
        if (!isIPv6(rest)) throw new IdSyntaxError(`"${input}": not an IPv6 address`);
        return { type: ID_IPV6_ADDR, data: addressBytes(rest)! };
      case 'asn1dn': return dnId(rest, input);
      case 'keyid':
        return { type: ID_KEY_ID, data: rest.startsWith('#') ? hexBytes(rest.slice(1), input) : Buffer.from(rest, 'utf8') };
      default: break; // not a known prefix: fall through to the other forms
    }
  }
  if (s.startsWith('@#')) return { type: ID_KEY_ID, data: hexBytes(s.slice(2), input) };
  if (s.startsWith('@@')) return { type: ID_RFC822_ADDR, data: Buffer.from(s.slice(2), 'utf8') };
  if (s.startsWith('@')) return { type: ID_FQDN, data: Buffer.from(s.slice(1), 'utf8') };
  if (looksLikeDn(s)) return dnId(s, input);
  const ip = addressBytes(s);
  if (ip) return { type: ip.length === 4 ? ID_IPV4_ADDR : ID_IPV6_ADDR, data: ip };
  if (s.includes('@')) return { type: ID_RFC822_ADDR, data: Buffer.from(s, 'utf8') };
  return { type: ID_FQDN, data: Buffer.from(s, 'utf8') };
}

function dnId(s: string, whole: string): IkeId {
  try {
    return { type: ID_DER_ASN1_DN, data: encodeDn(parseDnString(s)) };
  } catch (e) {
    throw new IdSyntaxError(`"${whole}": ${(e as Error).message}`);
  }
}

/** The ID payload body after the generic payload header: type, 3 reserved octets, data. */
export function encodeIdBody(id: IkeId): Buffer {
  const head = Buffer.alloc(4);
  head[0] = id.type;
  return Buffer.concat([head, id.data]);
}

/** Parses an ID payload body; null when it is too short to hold the type and reserved octets. */
export function decodeIdBody(body: Buffer): IkeId | null {
  if (body.length < 4) return null;
  return { type: body[0]!, data: Buffer.from(body.subarray(4)) };
}

function ipv6ToString(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** Human-readable form, in the syntax parseIdString accepts (for logs and refusal reasons). */
export function idToString(id: IkeId): string {
  switch (id.type) {
    case ID_FQDN:
    case ID_RFC822_ADDR:
      return id.data.toString('utf8');
    case ID_IPV4_ADDR:
      return id.data.length === 4 ? [...id.data].join('.') : `ipv4:<${id.data.length} bytes>`;
    case ID_IPV6_ADDR:
      return id.data.length === 16 ? ipv6ToString(id.data) : `ipv6:<${id.data.length} bytes>`;
    case ID_DER_ASN1_DN:
      try {
        return dnToString(decodeDn(id.data));
      } catch {
        return `asn1dn:#${id.data.toString('hex')}`;
      }
    case ID_KEY_ID:
      return `@#${id.data.toString('hex')}`;
    default:
      return `id type ${id.type}:#${id.data.toString('hex')}`;
  }
}

/** Whether a peer's id equals the configured one (FQDN/email case-insensitive, DNs by attribute). */
export function idEquals(expected: IkeId, actual: IkeId): boolean {
  if (expected.type !== actual.type) return false;
  switch (expected.type) {
    case ID_FQDN:
    case ID_RFC822_ADDR:
      return expected.data.toString('utf8').toLowerCase() === actual.data.toString('utf8').toLowerCase();
    case ID_DER_ASN1_DN:
      try {
        return dnEquals(decodeDn(expected.data), decodeDn(actual.data));
      } catch {
        return false;
      }
    default:
      return expected.data.equals(actual.data);
  }
}

/** Case-insensitive glob with `*` matching any run of characters. */
function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
  return re.test(text);
}

/**
 * Whether a peer's id satisfies the configured one, with strongSwan's wildcards: `*` inside a
 * configured FQDN or email (`*.lab`, `*@lab`) and a DN attribute whose value is `*`
 * (`C=XX, O=Lab, CN=*`). Without wildcards this is idEquals.
 */
export function idMatches(configured: IkeId, actual: IkeId): boolean {
  if (configured.type !== actual.type) return false;
  if (configured.type === ID_FQDN || configured.type === ID_RFC822_ADDR) {
    const pattern = configured.data.toString('utf8');
    if (pattern.includes('*')) return globMatch(pattern, actual.data.toString('utf8'));
  }
  if (configured.type === ID_DER_ASN1_DN) {
    try {
      const want = decodeDn(configured.data);
      const got = decodeDn(actual.data);
      return want.length === got.length && want.every((r, i) => r.oid === got[i]!.oid && (r.value === '*' || r.value.toLowerCase() === got[i]!.value.toLowerCase()));
    } catch {
      return false;
    }
  }
  return idEquals(configured, actual);
}
