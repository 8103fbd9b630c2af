import { spawnSync } from 'node:child_process';

/**
 * tshark as an independent decoder: reads a pcap and returns one row per packet with the
 * requested fields (`-T fields`). With `keylogDir`, tshark reads its UAT tables (esp_sa,
 * ikev2_decryption_table) from there (WIRESHARK_CONFIG_DIR). Fields that occur several times in
 * a packet (e.g. ip.src of outer and inner header) come back joined by ','.
 */
export interface TsharkOptions {
  /** Fields to print, e.g. ['esp.spi', 'esp.icv_good', 'icmp.type']. */
  fields: string[];
  /** Display filter (-Y), e.g. 'esp'. */
  filter?: string;
  /** WIRESHARK_CONFIG_DIR: where esp_sa / ikev2_decryption_table live. */
  keylogDir?: string;
  /** Preferences (-o name:value), e.g. { 'esp.enable_encryption_decode': 'TRUE' }. */
  prefs?: Record<string, string>;
  /** Decode-as rules (-d), e.g. ['udp.port==6081,geneve']. */
  decodeAs?: string[];
  /** Dissectors turned off (--disable-protocol), e.g. ['tcp'] when only the ESP layer is checked. */
  disableProtocols?: string[];
  /** Two-pass analysis (-2), needed by some reassembly. */
  twoPass?: boolean;
}

/** Preferences that make tshark decrypt ESP with AES-GCM and check its ICV (esp.icv_good). */
export const ESP_DECRYPT_PREFS: Record<string, string> = {
  'esp.enable_encryption_decode': 'TRUE',
  'esp.enable_authentication_check': 'TRUE',
  // No TCP reassembly inside ESP: a retransmitted segment whose bytes overlap earlier ones makes
  // the TCP dissector throw ("New fragment overlaps old data"), which cuts the ESP dissection
  // short before it adds esp.icv_good — a packet whose ICV is fine would read as not verified.
  'tcp.desegment_tcp_streams': 'FALSE',
};

export function tsharkFields(pcap: string, opts: TsharkOptions): string[][] {
  const args = ['-n', '-r', pcap, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const [k, v] of Object.entries(opts.prefs ?? {})) args.push('-o', `${k}:${v}`);
  for (const d of opts.decodeAs ?? []) args.push('-d', d);
  for (const p of opts.disableProtocols ?? []) args.push('--disable-protocol', p);
  if (opts.twoPass) args.push('-2');
  if (opts.filter) args.push('-Y', opts.filter);
  for (const f of opts.fields) args.push('-e', f);
  const env = { ...process.env };
  if (opts.keylogDir) env.WIRESHARK_CONFIG_DIR = opts.keylogDir;
  const r = spawnSync('tshark', args, { encoding: 'utf8', env, timeout: 60_000, maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`tshark ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
}

/** Rows as objects keyed by field name. */
export function tsharkRecords(pcap: string, opts: TsharkOptions): Record<string, string>[] {
  return tsharkFields(pcap, opts).map((row) => Object.fromEntries(opts.fields.map((f, i) => [f, row[i] ?? ''])));
}
