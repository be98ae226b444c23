// gen-file.mjs - the command line both generators share: write the
// generated file, or with --check only compare it with what it would be and
// exit 1 when it is stale (the build writes it; CI and a test check it).
import { readFileSync, writeFileSync } from 'node:fs';

/** Writes `source` to `outPath`, or checks it (`--check` in argv); `fix`
 * names the npm script that regenerates it. */
export function writeOrCheck(outPath, source, defPath, fix) {
  if (!process.argv.includes('--check')) {
    writeFileSync(outPath, source);
    return;
  }
  let current = '';
  try {
    current = readFileSync(outPath, 'utf8');
  } catch {
    // a missing file is stale
  }
  if (current !== source) {
    console.error(`${outPath} is out of date with ${defPath}: run npm run ${fix}`);
    process.exit(1);
  }
}
