/** The rows of the throughput/latency table, in the order they are measured and printed. */
export const DATA_ROWS = ['veth', 'overlay_plain', 'overlay_ipsec', 'tunnel_ipsec', 'strongswan_libipsec', 'wireguard_go', 'wireguard_go_debian'] as const;
export type DataRow = (typeof DATA_ROWS)[number];

/**
 * A running setup between two endpoints: traffic goes from `clientAddr` in `clientNs` to
 * `serverAddr` in `serverNs` and crosses the data path under test. `dataPathPids` are the
 * processes that carry it (daemons), whose CPU time is charged to the setup.
 */
export interface Setup {
  row: DataRow;
  /** One line for the table/docs: what carries the packets. */
  describe: string;
  clientNs: string;
  serverNs: string;
  clientAddr: string;
  serverAddr: string;
  dataPathPids: number[];
  teardown(): Promise<void>;
}

/** A row that cannot be measured (yet): the reason is printed and written instead of a number. */
export class NotMeasurable extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'NotMeasurable';
  }
}
