import {
  DerError, TAG_BIT_STRING, TAG_BOOLEAN, TAG_INTEGER, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE,
  decodeOid, readChildren, readSingle, type Tlv,
} from './der.js';
import { OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_SUBJECT_ALT_NAME, OID_SUBJECT_KEY_ID } from './x509-oids.js';

/**
 * The fields of an X.509 certificate (RFC 5280) that IKE authentication reads, taken straight
 * from the DER with our small reader. This replaced a general ASN.1 schema decoder
 * (@peculiar/x509 over asn1js) that cost about a third of an IKE responder's CPU per handshake;
 * only the handful of extensions below are looked at, every other one is skipped as before.
 * Throws DerError on malformed input.
 */
export interface TbsFields {
  issuer: Buffer;
  subject: Buffer;
  spki: Buffer;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  pathLen: number | undefined;
  /** keyUsage as flags: bit n of the BIT STRING (n = 0 digitalSignature … 8 decipherOnly) → 1 << n. */
  keyUsage: number | undefined;
  subjectKeyId: Buffer | undefined;
  sanDns: string[];
  /** iPAddress SANs as text (dotted IPv4, uncompressed IPv6). */
  sanIp: string[];
  sanEmail: string[];
}


const TAG_UTC_TIME = 0x17;
const TAG_GENERALIZED_TIME = 0x18;
/** GeneralName choices (context-specific, primitive). */
const GN_RFC822 = 0x81;
const GN_DNS = 0x82;
const GN_IP = 0x87;

/** UTCTime YYMMDDHHMMSSZ (RFC 5280 §4.1.2.5.1: YY < 50 → 20YY) or GeneralizedTime YYYYMMDDHHMMSSZ. */
function decodeTime(t: Tlv): Date {
  const s = t.value.toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === TAG_UTC_TIME && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    const yy = Number(m[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (t.tag === TAG_GENERALIZED_TIME && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    year = Number(m[1]);
  } else {
    throw new DerError(`bad certificate time "${s}"`);
  }
  const d = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  if (Number.isNaN(d.getTime())) throw new DerError(`bad certificate time "${s}"`);
  return d;
}

function ipText(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
    return groups.join(':');
  }
  throw new DerError(`iPAddress SAN of ${b.length} bytes`);
}

function bitStringFlags(v: Buffer): number {
  if (v.length === 0 || v[0]! > 7) throw new DerError('bad BIT STRING');
  let flags = 0;
  for (let i = 1; i < v.length; i++) {
    for (let bit = 0; bit < 8; bit++) if (v[i]! & (0x80 >> bit)) flags |= 1 << ((i - 1) * 8 + bit);
  }
  return flags;
}

function applyExtension(out: TbsFields, oid: string, value: Buffer): void {
  switch (oid) {
    case OID_BASIC_CONSTRAINTS: {
      const seq = readSingle(value);
      if (seq.tag !== TAG_SEQUENCE) throw new DerError('basicConstraints is not a SEQUENCE');
      for (const f of readChildren(seq.value)) {
        if (f.tag === TAG_BOOLEAN) out.isCa = f.value.length === 1 && f.value[0] !== 0;
        else if (f.tag === TAG_INTEGER) {
          if (f.value.length === 0 || f.value.length > 4 || f.value[0]! & 0x80) throw new DerError('bad pathLenConstraint');
          out.pathLen = f.value.readUIntBE(0, f.value.length);
        }
      }
      return;
    }
    case OID_KEY_USAGE: {
      const bits = readSingle(value);
      if (bits.tag !== TAG_BIT_STRING) throw new DerError('keyUsage is not a BIT STRING');
      out.keyUsage = bitStringFlags(bits.value);
      return;
    }
    case OID_SUBJECT_KEY_ID: {
      const id = readSingle(value);
      if (id.tag !== TAG_OCTET_STRING) throw new DerError('subjectKeyIdentifier is not an OCTET STRING');
      out.subjectKeyId = Buffer.from(id.value);
      return;
    }
    case OID_SUBJECT_ALT_NAME: {
      const seq = readSingle(value);
      if (seq.tag !== TAG_SEQUENCE) throw new DerError('subjectAltName is not a SEQUENCE');
      for (const n of readChildren(seq.value)) {
        if (n.tag === GN_DNS) out.sanDns.push(n.value.toString('latin1'));
        else if (n.tag === GN_RFC822) out.sanEmail.push(n.value.toString('latin1'));
        else if (n.tag === GN_IP) out.sanIp.push(ipText(n.value));
      }
      return;
    }
  }
}

/** Reads the TBSCertificate fields IKE needs from a DER certificate. */
export function readTbsFields(der: Buffer): TbsFields {
  const cert = readSingle(der);
  if (cert.tag !== TAG_SEQUENCE) throw new DerError('certificate is not a SEQUENCE');
  const [tbs] = readChildren(cert.value);
  if (!tbs || tbs.tag !== TAG_SEQUENCE) throw new DerError('no TBSCertificate');
  const f = readChildren(tbs.value);
  const base = f[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version is optional (v1)
  const issuer = f[base + 2];
  const validity = f[base + 3];
  const subject = f[base + 4];
  const spki = f[base + 5];
  if (!issuer || !validity || !subject || !spki || validity.tag !== TAG_SEQUENCE) throw new DerError('TBSCertificate is missing fields');
  const [nb, na] = readChildren(validity.value);
  if (!nb || !na) throw new DerError('validity is missing a time');
  const out: TbsFields = {
    issuer: Buffer.from(issuer.raw), subject: Buffer.from(subject.raw), spki: Buffer.from(spki.raw),
    notBefore: decodeTime(nb), notAfter: decodeTime(na),
    isCa: false, pathLen: undefined, keyUsage: undefined, subjectKeyId: undefined, sanDns: [], sanIp: [], sanEmail: [],
  };
  // [3] EXPLICIT Extensions, after the optional [1]/[2] unique identifiers.
  const extsWrapper = f.slice(base + 6).find((x) => x.tag === 0xa3);
  if (extsWrapper) {
    const exts = readSingle(extsWrapper.value);
    if (exts.tag !== TAG_SEQUENCE) throw new DerError('extensions are not a SEQUENCE');
    for (const ext of readChildren(exts.value)) {
      const parts = readChildren(ext.value);
      const oid = parts[0];
      const value = parts[parts.length - 1];
      if (ext.tag !== TAG_SEQUENCE || !oid || oid.tag !== TAG_OID || !value || value.tag !== TAG_OCTET_STRING) {
        throw new DerError('malformed extension');
      }
      applyExtension(out, decodeOid(oid.value), value.value);
    }
  }
  return out;
}
