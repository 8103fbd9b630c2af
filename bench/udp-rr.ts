// UDP request/response helper for `npm run bench`, run inside a namespace:
//   node udp-rr.js server ADDR PORT                 echo every datagram back; prints "ready"
//   node udp-rr.js client ADDR PORT SRC SECONDS     one 64-byte request outstanding at a time;
//                                                   prints {"transactions":N,"seconds":S,"lost":L}
// A request unanswered for 200 ms counts as lost and the next one is sent.
import dgram from 'node:dgram';

const [mode, addr, portText, src, secondsText] = process.argv.slice(2);
const port = Number(portText);

if (mode === 'server') {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(m, r.port, r.address));
  s.bind(port, addr, () => process.stdout.write('ready\n'));
  process.on('SIGTERM', () => process.exit(0));
} else if (mode === 'client') {
  const seconds = Number(secondsText);
  const s = dgram.createSocket('udp4');
  const payload = Buffer.alloc(64);
  let seq = 0;
  let done = 0;
  let lost = 0;
  let timer: NodeJS.Timeout | undefined;
  let end = 0;
  let start = 0;
  const send = (): void => {
    if (performance.now() >= end) {
      clearTimeout(timer);
      const elapsed = (performance.now() - start) / 1000;
      process.stdout.write(JSON.stringify({ transactions: done, seconds: elapsed, lost }) + '\n');
      s.close();
      return;
    }
    payload.writeUInt32BE(++seq, 0);
    s.send(payload, port, addr);
    clearTimeout(timer);
    timer = setTimeout(() => { lost++; send(); }, 200);
  };
  s.on('message', (m) => {
    if (m.length >= 4 && m.readUInt32BE(0) === seq) {
      done++;
      send();
    }
  });
  s.bind(0, src, () => {
    start = performance.now();
    end = start + seconds * 1000;
    send();
  });
} else {
  process.stderr.write('usage: udp-rr.js server ADDR PORT | client ADDR PORT SRC SECONDS\n');
  process.exit(2);
}
