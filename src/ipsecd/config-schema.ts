import { z } from 'zod';
import { parseIpv4 } from '../wire/address.js';
import { parseTs, type TsSpec } from '../wire/traffic-selector.js';

/**
 * The ipsecd YAML file (CONTRACTS.md), as a strict schema: every object rejects unknown keys,
 * every leaf says what it expects. Values are parsed here (hex keys to bytes, selectors to
 * numbers) so that later code never sees text.
 */

const ipv4 = z.string().refine((s) => parseIpv4(s) !== null, { message: 'expected an IPv4 address like 198.18.0.1' });

const port = z.number().int().min(1).max(65535);

/** swanctl-like durations: 10s, 5m, 4h, 1d, or plain seconds. */
const duration = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+[smhd]?$/, { message: 'expected a duration like 30s, 10m, 4h or 1d' }),
]);

const tsList = z
  .array(
    z.string().transform((s, ctx): TsSpec => {
      try {
        return parseTs(s);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }),
  )
  .min(1, { message: 'expected at least one traffic selector' });

/** An SPI: 256..0xffffffff (1-255 are reserved by IANA, RFC 4303 §2.1), as a number or "0x…" text. */
const spi = z.union([z.number(), z.string()]).transform((v, ctx): number => {
  const n = typeof v === 'number' ? v : /^0x[0-9a-f]{1,8}$/i.test(v) ? Number.parseInt(v.slice(2), 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 256 || n > 0xffffffff) {
    ctx.addIssue({ code: 'custom', message: `expected an SPI between 0x00000100 and 0xffffffff, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return n;
});

/** AES-GCM key material: "0x" + hex of key ‖ 4-byte salt (20 or 36 bytes). */
const gcmKey = z.unknown().transform((v, ctx): Buffer => {
  if (typeof v !== 'string') {
    ctx.addIssue({ code: 'custom', message: 'expected a quoted hex string "0x…" (unquoted, YAML reads it as a number and loses digits)' });
    return z.NEVER;
  }
  const hex = v.startsWith('0x') || v.startsWith('0X') ? v.slice(2) : v;
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) {
    ctx.addIssue({ code: 'custom', message: 'expected hex digits "0x…" with an even count' });
    return z.NEVER;
  }
  const bytes = hex.length / 2;
  if (bytes !== 20 && bytes !== 36) {
    const want = bytes > 20 ? 'expected 36 bytes (AES-256 key ‖ 4-byte salt)' : 'expected 20 bytes (AES-128 key ‖ 4-byte salt) or 36 bytes (AES-256 key ‖ 4-byte salt)';
    ctx.addIssue({ code: 'custom', message: `${want}, got ${bytes}` });
    return z.NEVER;
  }
  return Buffer.from(hex, 'hex');
});

export const ESP_PROPOSALS = ['aes256gcm16', 'aes128gcm16'] as const;

export const manualSchema = z.strictObject({
  mode: z.enum(['tunnel', 'transport']),
  local_ts: tsList,
  remote_ts: tsList,
  spi_out: spi,
  spi_in: spi,
  key_out: gcmKey,
  key_in: gcmKey,
  esp_proposals: z.array(z.enum(ESP_PROPOSALS)).min(1).max(1).optional(),
  replay_window: z.number().int().min(0).max(4096).optional(),
  life_bytes: z.number().int().nonnegative().optional(),
  life_packets: z.number().int().nonnegative().optional(),
  /** UDP port of the peer's ESP-in-UDP socket (RFC 3948: 4500). */
  remote_esp_port: port.optional(),
});

const authSchema = z.strictObject({
  auth: z.enum(['pubkey', 'psk']),
  cert: z.string().optional(),
  key: z.string().optional(),
  id: z.string().optional(),
});

const childSchema = z.strictObject({
  mode: z.enum(['tunnel', 'transport']).optional(),
  local_ts: tsList.optional(),
  remote_ts: tsList.optional(),
  esp_proposals: z.array(z.string()).optional(),
  start_action: z.enum(['start', 'trap', 'none']).optional(),
  rekey_time: duration.optional(),
  life_bytes: z.number().int().nonnegative().optional(),
  life_packets: z.number().int().nonnegative().optional(),
  replay_window: z.number().int().min(0).max(4096).optional(),
});

export const connectionSchema = z.strictObject({
  local_addrs: z.array(ipv4).min(1).max(1),
  remote_addrs: z.array(ipv4).min(1).max(1),
  local_port: port.optional(),
  remote_port: port.optional(),
  local: authSchema.optional(),
  remote: authSchema.optional(),
  ca: z.array(z.string()).optional(),
  psk: z.string().optional(),
  proposals: z.array(z.string()).optional(),
  dpd_delay: duration.optional(),
  rekey_time: duration.optional(),
  children: z.record(z.string(), childSchema).optional(),
  manual: manualSchema.optional(),
});

const tunSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, { message: 'expected an interface name of 1-15 letters, digits, _ . -' }),
  mtu: z.number().int().min(576).max(9000).optional(),
  /** Routing table for the policy routes into the TUN. */
  table: z.number().int().min(1).max(0xfffffffe).refine((t) => t !== 253 && t !== 254 && t !== 255, {
    message: 'tables 253-255 are the kernel\'s default/main/local',
  }).optional(),
  /** Priority of the first ip rule the daemon adds (it uses this and the next few). */
  rule_priority: z.number().int().min(1).max(32000).optional(),
});

/** IKE retransmission (strongSwan's charon.retransmit_timeout/_tries/_base): how soon a silent peer is declared dead. */
const retransmitSchema = z.strictObject({
  timeout: duration.optional(),
  tries: z.number().int().min(1).max(20).optional(),
  base: z.number().min(1).max(4).optional(),
});

export const fileSchema = z.strictObject({
  retransmit: retransmitSchema.optional(),
  connections: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: 'connection names are letters, digits, _ . -' }), connectionSchema),
  tun: tunSchema.optional(),
});

export type FileConfig = z.infer<typeof fileSchema>;
export type ManualFileConfig = z.infer<typeof manualSchema>;

