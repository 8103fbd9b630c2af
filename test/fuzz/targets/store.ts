import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FsStore, CorruptDocumentError, type CollectionName } from '../../../src/store/index.js';
import { FUZZ_FIXTURES, type FuzzTarget, type Harness } from '../target.js';

/**
 * The embedded store's documents as a damaged disk or a careless hand leaves them: a revision file
 * whose bytes are mutated, read back through FsStore.get and list. Every read must give the
 * document or a CorruptDocumentError naming the file and what is wrong; never another exception,
 * never a document that fails its schema. The first input byte picks which stored file is replaced.
 */
export const storeDocument: FuzzTarget = {
  name: 'store-document',
  what: 'FsStore.get/list on a damaged revision file (JSON, key/revision check, zod schemas of every collection)',
  corpusDirs: [],
  async create(): Promise<Harness> {
    const src = path.join(FUZZ_FIXTURES, 'store');
    const dir = mkdtempSync(path.join(tmpdir(), 'oir-fuzz-store-'));
    const files: { collection: CollectionName; key: string; file: string; text: Buffer }[] = [];
    for (const f of readdirSync(src).sort()) {
      const [collection, name] = f.split('--') as [CollectionName, string];
      mkdirSync(path.join(dir, collection), { recursive: true });
      const full = path.join(dir, collection, name);
      const text = readFileSync(path.join(src, f));
      writeFileSync(full, text);
      const key = decodeURIComponent(/^(.+)\.[0-9]+\.json$/.exec(name)![1]!);
      files.push({ collection, key, file: full, text });
    }
    const store = await FsStore.open(dir, { rescanMs: 1_000_000 });
    return {
      seeds: () => files.map((f, i) => Buffer.concat([Buffer.from([i]), f.text])),
      async run(input) {
        if (input.length === 0) return 'empty-input';
        const f = files[input[0]! % files.length]!;
        writeFileSync(f.file, input.subarray(1));
        try {
          await store.get(f.collection, f.key);
          await store.list(f.collection);
          return 'accepted:document';
        } catch (e) {
          if (!(e instanceof CorruptDocumentError)) throw e;
          if (e.file !== f.file) throw new Error(`error names ${e.file}, not ${f.file}`);
          return `corrupt:${storeCause(e.problem)}`;
        } finally {
          writeFileSync(f.file, f.text);
        }
      },
      check() {},
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** CorruptDocumentError's problem as a cause label (the file's bytes are left out). */
function storeCause(problem: string): string {
  if (problem.startsWith('not valid JSON')) return 'not-json';
  if (problem.startsWith('not a JSON object')) return 'not-an-object';
  if (problem.startsWith('holds key')) return 'key-mismatch';
  if (problem.startsWith('holds revision')) return 'revision-mismatch';
  const v = /^value\.([a-z_]*)/i.exec(problem);
  return v ? `schema:${v[1] || '(document)'}` : 'other';
}
