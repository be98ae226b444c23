// cjs-package.mjs - marks dist/cjs as CommonJS: the package itself is
// "type": "module", so without this nested package.json Node would read the
// require() build's .js files as ES modules.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/cjs');
mkdirSync(dir, { recursive: true });
writeFileSync(resolve(dir, 'package.json'), JSON.stringify({ type: 'commonjs' }, null, 2) + '\n');
