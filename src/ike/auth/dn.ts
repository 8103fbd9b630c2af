import {
  DerError, TAG_BMP_STRING, TAG_IA5_STRING, TAG_OID, TAG_PRINTABLE_STRING, TAG_SEQUENCE, TAG_SET,
  TAG_UNIVERSAL_STRING, TAG_UTF8_STRING, decodeOid, encodeOid, readChildren, readSingle, tlv,
} from './der.js';

/**
 * X.501 Distinguished Names as IKE uses them in ID_DER_ASN1_DN: parsed from strongSwan's string
 * form ("C=XX, O=Lab, CN=x"), encoded to DER, decoded from DER and compared the way strongSwan
 * compares them (attribute by attribute, values case-insensitively, string types ignored).
 */
export interface Rdn {
  oid: string;
  value: string;
}

interface AttrType {
  names: string[];
  oid: string;
  /** The string type used when encoding; PrintableString falls back to UTF8String if needed. */
  tag: number;
}

const ATTR_TYPES: AttrType[] = [
  { names: ['C'], oid: '2.5.4.6', tag: TAG_PRINTABLE_STRING },
  { names: ['ST', 'S'], oid: '2.5.4.8', tag: TAG_PRINTABLE_STRING },
  { names: ['L'], oid: '2.5.4.7', tag: TAG_PRINTABLE_STRING },
  { names: ['O'], oid: '2.5.4.10', tag: TAG_PRINTABLE_STRING },
  { names: ['OU'], oid: '2.5.4.11', tag: TAG_PRINTABLE_STRING },
  { names: ['CN'], oid: '2.5.4.3', tag: TAG_PRINTABLE_STRING },
  { names: ['SN'], oid: '2.5.4.4', tag: TAG_PRINTABLE_STRING },
  { names: ['serialNumber'], oid: '2.5.4.5', tag: TAG_PRINTABLE_STRING },
  { names: ['street'], oid: '2.5.4.9', tag: TAG_PRINTABLE_STRING },
  { names: ['T', 'title'], oid: '2.5.4.12', tag: TAG_PRINTABLE_STRING },
  { names: ['D', 'description'], oid: '2.5.4.13', tag: TAG_PRINTABLE_STRING },
  { names: ['postalCode'], oid: '2.5.4.17', tag: TAG_PRINTABLE_STRING },
  { names: ['N', 'name'], oid: '2.5.4.41', tag: TAG_PRINTABLE_STRING },
  { names: ['G', 'givenName', 'GN'], oid: '2.5.4.42', tag: TAG_PRINTABLE_STRING },
  { names: ['I', 'initials'], oid: '2.5.4.43', tag: TAG_PRINTABLE_STRING },
  { names: ['dnQualifier'], oid: '2.5.4.46', tag: TAG_PRINTABLE_STRING },
  { names: ['pseudonym'], oid: '2.5.4.65', tag: TAG_PRINTABLE_STRING },
  { names: ['E', 'Email', 'emailAddress'], oid: '1.2.840.113549.1.9.1', tag: TAG_IA5_STRING },
  { names: ['UID'], oid: '0.9.2342.19200300.100.1.1', tag: TAG_PRINTABLE_STRING },
  { names: ['DC'], oid: '0.9.2342.19200300.100.1.25', tag: TAG_IA5_STRING },
];

const BY_NAME = new Map<string, AttrType>();
const BY_OID = new Map<string, AttrType>();
for (const t of ATTR_TYPES) {
  for (const n of t.names) BY_NAME.set(n.toLowerCase(), t);
  BY_OID.set(t.oid, t);
}

/** True when `s` could be a DN in strongSwan's string syntax (it holds an attribute assignment). */
export function looksLikeDn(s: string): boolean {
  return /^\s*\/?\s*[A-Za-z][A-Za-z0-9.]*\s*=/.test(s);
}

/** Splits on `sep` outside double quotes and not escaped with a backslash. */
function splitOutside(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += s[++i]!;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (c === sep && !quoted) {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts;
}

/** Parses "C=XX, O=Lab, CN=x" (or "/C=XX/O=Lab/CN=x"). Throws Error naming the bad part. */
export function parseDnString(s: string): Rdn[] {
  const trimmed = s.trim();
  const slashForm = trimmed.startsWith('/');
  const parts = splitOutside(slashForm ? trimmed.slice(1) : trimmed, slashForm ? '/' : ',');
  const rdns: Rdn[] = [];
  for (const part of parts) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`bad DN component "${part.trim()}" in "${s}" (expected TYPE=value)`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    const t = BY_NAME.get(key.toLowerCase());
    let oid: string;
    if (t) oid = t.oid;
    else if (/^\d+(\.\d+)+$/.test(key)) oid = key;
    else throw new Error(`unknown DN attribute type "${key}" in "${s}"`);
    rdns.push({ oid, value });
  }
  if (rdns.length === 0) throw new Error(`empty DN "${s}"`);
  return rdns;
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** DER Name: SEQUENCE OF SET OF AttributeTypeAndValue, one attribute per RDN. */
export function encodeDn(rdns: Rdn[]): Buffer {
  return tlv(
    TAG_SEQUENCE,
    ...rdns.map((r) => {
      let tag = BY_OID.get(r.oid)?.tag ?? TAG_UTF8_STRING;
      if (tag === TAG_PRINTABLE_STRING && !PRINTABLE.test(r.value)) tag = TAG_UTF8_STRING;
      if (tag === TAG_IA5_STRING && !/^[\x00-\x7f]*$/.test(r.value)) tag = TAG_UTF8_STRING;
      return tlv(TAG_SET, tlv(TAG_SEQUENCE, encodeOid(r.oid), tlv(tag, Buffer.from(r.value, 'utf8'))));
    }),
  );
}

function decodeString(tag: number, value: Buffer): string {
  switch (tag) {
    case TAG_BMP_STRING: {
      let s = '';
      for (let i = 0; i + 1 < value.length; i += 2) s += String.fromCharCode(value.readUInt16BE(i));
      return s;
    }
    case TAG_UNIVERSAL_STRING: {
      let s = '';
      for (let i = 0; i + 3 < value.length; i += 4) s += String.fromCodePoint(value.readUInt32BE(i));
      return s;
    }
    case TAG_UTF8_STRING:
      return value.toString('utf8');
    default:
      // PrintableString, IA5String, T61String, TeletexString, VisibleString: byte-per-char
      return value.toString('latin1');
  }
}

/** Decodes a DER Name. Multi-valued RDNs contribute each attribute in order. Throws DerError. */
export function decodeDn(der: Buffer): Rdn[] {
  const name = readSingle(der);
  if (name.tag !== TAG_SEQUENCE) throw new DerError('DN is not a SEQUENCE');
  const rdns: Rdn[] = [];
  for (const set of readChildren(name.value)) {
    if (set.tag !== TAG_SET) throw new DerError('RDN is not a SET');
    for (const atv of readChildren(set.value)) {
      const [type, val] = readChildren(atv.value);
      if (atv.tag !== TAG_SEQUENCE || !type || !val || type.tag !== TAG_OID) throw new DerError('bad AttributeTypeAndValue');
      rdns.push({ oid: decodeOid(type.value), value: decodeString(val.tag, val.value) });
    }
  }
  return rdns;
}

/** strongSwan-style text: "C=XX, O=Lab, CN=x"; unknown attribute types as dotted OIDs. */
export function dnToString(rdns: Rdn[]): string {
  return rdns.map((r) => `${BY_OID.get(r.oid)?.names[0] ?? r.oid}=${r.value}`).join(', ');
}

/** Same attributes in the same order, values equal ignoring case. */
export function dnEquals(a: Rdn[], b: Rdn[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((r, i) => r.oid === b[i]!.oid && r.value.toLowerCase() === b[i]!.value.toLowerCase());
}
