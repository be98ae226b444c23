/* runtime.ts - obtains node:net through process.getBuiltinModule instead of
 * a static import, and only when a client is created: importing the package
 * (its error classes, its types) works where Node.js built-ins do not exist
 * (the Next.js Edge runtime), while createClient() and NoormmeAdapter() fail
 * there at once with a message that says what to do, rather than with a
 * bundler error about a missing module. */
import type * as NodeNet from 'node:net';

export type NetModule = typeof NodeNet;

/** Where the fix is explained: the split-config pattern for Next.js. */
export const RUNTIME_HELP =
  "@noormme/client needs the Node.js runtime: it talks to noormd over a Unix socket (node:net), " +
  "which the Edge runtime does not have. Use it only from code that runs on Node.js: add " +
  "`export const runtime = 'nodejs'` to the route or page, and keep the adapter out of the config " +
  'that middleware imports (split the Auth.js config). See docs/adapter.md, "Edge runtime".';

interface MaybeNodeProcess {
  getBuiltinModule?: (id: string) => unknown;
  versions?: { node?: string };
}

let loaded: NetModule | null = null;

/** Returns node:net, or throws an Error naming the runtime problem. */
export function loadNet(): NetModule {
  if (loaded !== null) return loaded;
  // Next.js marks its Edge runtime with a global. Check it before touching
  // `process`: there even reading process.getBuiltinModule throws Next's own
  // error, which would hide ours.
  if (typeof (globalThis as { EdgeRuntime?: unknown }).EdgeRuntime === 'string') {
    throw new Error(RUNTIME_HELP);
  }
  const proc = (globalThis as { process?: MaybeNodeProcess }).process;
  const get = proc?.getBuiltinModule;
  if (typeof get !== 'function') {
    // A real but old Node.js (before 20.16 / 22.3) lacks getBuiltinModule too.
    const node = proc?.versions?.node;
    const old = node
      ? `process.getBuiltinModule is missing (Node.js ${node}; 20.16+ or 22.3+ is needed). `
      : '';
    throw new Error(old + RUNTIME_HELP);
  }
  const net = get.call(proc, 'node:net') as NetModule | undefined;
  if (!net || typeof net.createConnection !== 'function') throw new Error(RUNTIME_HELP);
  loaded = net;
  return net;
}
