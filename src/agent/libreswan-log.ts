import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** pluto's timestamp: `Jul 29 15:02:06.832185` (UTC here; microseconds from the ms clock). */
export function plutoTime(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const micros = String((((ms % 1000) + 1000) % 1000) * 1000).padStart(6, '0');
  return `${MONTHS[d.getUTCMonth()]} ${p2(d.getUTCDate())} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}.${micros}`;
}

/**
 * The node's libreswan.log (the seed's /var/log/openvswitch/libreswan.log): one line per IKE
 * event, `<time>: "<conn>" #<serial>: <text>`. Lines the engine writes about a child carry the
 * IKE connection's name; `rename` maps them to the child's connection name (`…-in-1`), as pluto
 * names them.
 */
export class LibreswanLog {
  private readonly out: WriteStream;
  /** Lines of one event-loop turn go out in one write: an IKE exchange logs several. */
  private corked = false;

  constructor(readonly file: string, private readonly now: () => number) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.out = createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.out.on('error', () => undefined);
  }

  write(line: string, rename?: (serial: number) => string | undefined): void {
    let text = line;
    const m = /^"([^"]+)" #(\d+): /.exec(line);
    if (m && rename) {
      const child = rename(Number(m[2]));
      if (child) text = `"${child}" #${m[2]}: ${line.slice(m[0].length)}`;
    }
    if (!this.corked) {
      this.corked = true;
      this.out.cork();
      process.nextTick(() => {
        this.corked = false;
        this.out.uncork();
      });
    }
    this.out.write(`${plutoTime(this.now())}: ${text}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.out.end(() => resolve()));
  }
}
