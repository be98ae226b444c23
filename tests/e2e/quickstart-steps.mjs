// quickstart-steps.mjs - turns docs/quickstart.md into the bash steps that
// tests/e2e/quickstart.sh sources. Usage: node quickstart-steps.mjs QUICKSTART.md
//
// What becomes what, in the order of the page:
//   ```sh block             its lines, verbatim, except that a line `make run`
//                           or `npm start` becomes `qs_bg noormd|app ...`
//                           (started in the background, then waited for)
//   **`path`** then a block the block's text written to path, byte for byte
//                           (unless the block is sh: then the sh block runs)
//   <!-- qs:terminal1 -->   the next sh block runs in a subshell (terminal 1)
//   <!-- qs:check -->       the next sh block becomes qs_check, then runs
//   <!-- qs:browser X -->   qs_browser X (the headless browser does step X)
//   <!-- qs:skip -->        the next block is not run
// Each block run is preceded by `qs_step FILE:LINE` (progress and timing).
// Any other block is an error, so that an edit to the page cannot silently
// drop a step from the test.
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node quickstart-steps.mjs docs/quickstart.md');
  process.exit(2);
}
const lines = readFileSync(file, 'utf8').split('\n');
const out = ['# generated from ' + file + ' by tests/e2e/quickstart-steps.mjs'];
let marker = null;
let path = null;
let blocks = 0;

function fail(msg, n) {
  console.error(`${file}:${n + 1}: ${msg}`);
  process.exit(1);
}

function shell(body) {
  return body
    .map((l) => (l === 'make run' ? 'qs_bg noormd make run' : l === 'npm start' ? 'qs_bg app npm start' : l))
    .join('\n');
}

for (let i = 0; i < lines.length; i++) {
  const line = lines[i];
  const m = /^\s*<!-- qs:([a-z0-9]+)(?: ([a-z0-9-]+))? -->\s*$/.exec(line);
  if (m) {
    if (m[1] === 'browser') {
      out.push(`qs_browser ${m[2]}`);
      if (m[2] === 'signout') out.push('qs_check > "$QS_OUT/check-after-signout.txt"');
    } else if (['skip', 'terminal1', 'check'].includes(m[1])) marker = m[1];
    else fail(`unknown marker ${line.trim()}`, i);
    continue;
  }
  const p = /^\*\*`([^`]+)`\*\*/.exec(line);
  if (p) {
    path = p[1];
    continue;
  }
  const f = /^(\s*)```(\w*)\s*$/.exec(line);
  if (!f) continue;
  const [, indent, lang] = f;
  const start = i;
  const body = [];
  for (i++; i < lines.length && lines[i] !== indent + '```'; i++)
    body.push(lines[i].startsWith(indent) ? lines[i].slice(indent.length) : lines[i]);
  if (i >= lines.length) fail('unclosed code block', start);
  blocks++;
  if (marker === 'skip') {
    // not run
  } else if (lang === 'sh') {
    out.push(`qs_step ${file}:${start + 1}`);
    if (marker === 'terminal1') out.push('(', shell(body), ')');
    else if (marker === 'check') out.push('qs_check() {', shell(body), '}', 'qs_check | tee "$QS_OUT/check-signed-in.txt"');
    else out.push(shell(body));
  } else if (path) {
    if (body.some((l) => l === 'QS_EOF')) fail('block contains QS_EOF', start);
    out.push(`qs_step ${file}:${start + 1}`, `cat > '${path}' <<'QS_EOF'`, ...body, 'QS_EOF');
  } else {
    fail('code block with neither a qs marker, a **`path`** line, nor sh', start);
  }
  marker = null;
  path = null;
}
if (!blocks) fail('no code blocks', 0);
console.log(out.join('\n'));
