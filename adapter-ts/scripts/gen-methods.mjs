// gen-methods.mjs - writes src/methods.generated.ts from protocol/methods.def,
// the one table of RPC methods, so the client's method names and argument
// lists cannot drift from what the server dispatches. `node
// scripts/gen-methods.mjs` writes the file; `--check` only compares and exits
// 1 when the file is stale.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { writeOrCheck } from './gen-file.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const DEF_PATH = resolve(here, '../../protocol/methods.def');
export const OUT_PATH = resolve(here, '../src/methods.generated.ts');

/** methods.def's T_* names and what each is called in the generated table. */
const TYPES = new Map([
  ['T_NIL', 'nil'],
  ['T_BOOL', 'bool'],
  ['T_INT', 'int'],
  ['T_FLOAT', 'float'],
  ['T_STR', 'str'],
  ['T_BIN', 'bin'],
  ['T_ARRAY', 'array'],
  ['T_MAP', 'map'],
  ['T_TIME', 'time'],
]);

/** The TypeScript type of a value of each wire type, as the client sends it. */
const TS_TYPES = new Map([
  ['nil', 'null'],
  ['bool', 'boolean'],
  ['int', 'number'],
  ['float', 'number'],
  ['str', 'string'],
  ['bin', 'Uint8Array'],
  ['array', 'unknown[]'],
  ['map', 'Record<string, unknown>'],
  ['time', 'Date'],
]);

const CLASSES = new Map([
  ['LOOP', 'loop'],
  ['POOL', 'pool'],
  ['WRITER', 'writer'],
]);

const STR = '"((?:[^"\\\\]|\\\\.)*)"';
const IDENT = '([A-Za-z_][A-Za-z0-9_]*)';
const LIMIT_LINE = new RegExp(`^PROTO_LIMIT\\(\\s*${IDENT}\\s*,\\s*(\\d+)\\s*\\)$`);
const METHOD_LINE = new RegExp(
  `^PROTO_METHOD\\(\\s*${STR}\\s*,\\s*${IDENT}\\s*,\\s*(LOOP|POOL|WRITER)\\s*,\\s*(KEEP_EXTRA|NO_EXTRA)\\s*\\)$`,
);
const ARG_LINE = new RegExp(
  `^PROTO_ARG\\(\\s*${STR}\\s*,\\s*([A-Z_|\\s]+?)\\s*,\\s*(REQUIRED|OPTIONAL)\\s*,\\s*(\\d+|${IDENT})\\s*\\)$`,
);

/** Removes C comments, keeping line breaks so that errors can name a line. */
function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');
}

/**
 * Parses methods.def text into {limits, methods}: limits maps each
 * PROTO_LIMIT name to its number; methods is [{name, handler, execClass,
 * keepExtra, args: [{name, types, required, limit}]}] in file order, with
 * limit names resolved. Throws, naming the line, on a line it cannot read, an
 * unknown type or limit, a repeated method or argument, an argument outside a
 * method, or a method without PROTO_END.
 */
export function parseMethodsDef(text) {
  const limits = new Map();
  const methods = [];
  let open = null;
  const lines = stripComments(text).split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const where = `methods.def:${i + 1}`;
    let m;
    if ((m = LIMIT_LINE.exec(line))) {
      if (limits.has(m[1])) throw new Error(`${where}: limit ${m[1]} is defined twice`);
      limits.set(m[1], Number(m[2]));
    } else if ((m = METHOD_LINE.exec(line))) {
      if (open) throw new Error(`${where}: ${m[1]} starts before ${open.name} has its PROTO_END`);
      if (methods.some((x) => x.name === m[1])) throw new Error(`${where}: method ${m[1]} appears twice`);
      if (!/^[a-z]+\.[A-Za-z]+$/.test(m[1])) throw new Error(`${where}: ${m[1]} is not a "group.method" name`);
      open = { name: m[1], handler: m[2], execClass: CLASSES.get(m[3]), keepExtra: m[4] === 'KEEP_EXTRA', args: [] };
    } else if ((m = ARG_LINE.exec(line))) {
      if (!open) throw new Error(`${where}: PROTO_ARG outside a method`);
      if (open.args.some((a) => a.name === m[1]))
        throw new Error(`${where}: ${open.name} has two arguments named ${m[1]}`);
      const types = m[2].split('|').map((t) => {
        const name = TYPES.get(t.trim());
        if (!name) throw new Error(`${where}: unknown argument type ${t.trim()}`);
        return name;
      });
      let limit;
      if (/^\d+$/.test(m[4])) limit = Number(m[4]);
      else if (limits.has(m[4])) limit = limits.get(m[4]);
      else throw new Error(`${where}: unknown limit ${m[4]} (define it with PROTO_LIMIT first)`);
      open.args.push({ name: m[1], types, required: m[3] === 'REQUIRED', limit });
    } else if (line === 'PROTO_END') {
      if (!open) throw new Error(`${where}: PROTO_END without a method`);
      methods.push(open);
      open = null;
    } else {
      throw new Error(`${where}: cannot parse line: ${line}`);
    }
  });
  if (open) throw new Error(`methods.def: ${open.name} has no PROTO_END`);
  if (methods.length === 0) throw new Error('methods.def: no PROTO_METHOD lines');
  return { limits, methods };
}

/** A TypeScript single-quoted string literal. */
function q(s) {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A property name: bare when it is an identifier, else quoted. */
function prop(s) {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s) ? s : q(s);
}

/** The TypeScript type of an argument that may have any of `types`. */
function tsType(types) {
  return [...new Set(types.map((t) => TS_TYPES.get(t)))].join(' | ');
}

/** Returns the TypeScript source for the table in `defText`. */
export function generateMethods(defText) {
  const { limits, methods } = parseMethodsDef(defText);
  const out = [];
  out.push(
    '/* methods.generated.ts - the RPC method table, GENERATED by',
    ' * scripts/gen-methods.mjs from protocol/methods.def: do not edit; run',
    ' * `npm run gen-methods` (the build does) after changing methods.def. */',
    '',
    '/** A MessagePack type an argument may have (methods.def T_*). */',
    "export type ArgType = 'nil' | 'bool' | 'int' | 'float' | 'str' | 'bin' | 'array' | 'map' | 'time';",
    '',
    "/** Where noormd runs a method: 'loop' and 'pool' only read, 'writer' writes",
    ' * (in a group-commit transaction, answered after COMMIT). */',
    "export type ExecClass = 'loop' | 'pool' | 'writer';",
    '',
    '/** One argument: its name, the types it may have, whether it must be',
    ' * given, and its size limit (str/bin bytes, array/map elements; 0: none). */',
    'export interface ArgSpec {',
    '  readonly name: string;',
    '  readonly types: readonly ArgType[];',
    '  readonly required: boolean;',
    '  readonly limit: number;',
    '}',
    '',
    '/** One method: its wire name, where it runs, whether unknown string-named',
    ' * arguments are kept as the record\'s extra fields (else refused with',
    ' * UNKNOWN_FIELD), and its arguments in handler order. */',
    'export interface MethodSpec {',
    '  readonly name: string;',
    '  readonly execClass: ExecClass;',
    '  readonly keepExtra: boolean;',
    '  readonly args: readonly ArgSpec[];',
    '}',
    '',
    '/** The named size limits of methods.def. */',
    'export const LIMITS = {',
    ...[...limits].map(([name, n]) => `  ${name}: ${n},`),
    '} as const;',
    '',
    '/** Every method noormd answers (the production build), by wire name. */',
    'export const METHODS = {',
  );
  for (const m of methods) {
    out.push(`  ${q(m.name)}: {`, `    name: ${q(m.name)},`, `    execClass: ${q(m.execClass)},`);
    out.push(`    keepExtra: ${m.keepExtra},`);
    if (m.args.length === 0) {
      out.push('    args: [],');
    } else {
      out.push('    args: [');
      for (const a of m.args) {
        const types = a.types.map(q).join(', ');
        out.push(`      { name: ${q(a.name)}, types: [${types}], required: ${a.required}, limit: ${a.limit} },`);
      }
      out.push('    ],');
    }
    out.push('  },');
  }
  out.push(
    '} as const satisfies Readonly<Record<string, MethodSpec>>;',
    '',
    '/** The wire name of a method in the table. */',
    'export type MethodName = keyof typeof METHODS;',
    '',
    '/** The named arguments of each method as the client sends them (timestamps',
    ' * as Date). Methods that keep extra fields accept any other key too. */',
    'export interface MethodArgs {',
  );
  for (const m of methods) {
    if (m.args.length === 0 && !m.keepExtra) {
      out.push(`  ${q(m.name)}: Record<string, never>;`);
      continue;
    }
    out.push(`  ${q(m.name)}: {`);
    for (const a of m.args) out.push(`    ${prop(a.name)}${a.required ? '' : '?'}: ${tsType(a.types)};`);
    if (m.keepExtra) out.push('    [extra: string]: unknown;');
    out.push('  };');
  }
  out.push('}', '');
  return out.join('\n');
}

function main() {
  writeOrCheck(OUT_PATH, generateMethods(readFileSync(DEF_PATH, 'utf8')), DEF_PATH, 'gen-methods');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
