// Builds echo-js.wasm with componentize-js's `componentize()` (the `jco componentize` CLI fails
// on this project's machines with "os error 44"). Usage: node build.mjs [OUTDIR], default dist/.
//
// componentize-js imports every interface of the world it is given, whether the JavaScript uses
// it or not, and Trellis refuses to start a component that imports an interface its
// installation was not granted. So the build takes the contract in ../../wit and drops the
// world's imports this integration does not use: the component's imports then match the scopes
// in trellis.toml. Keep IMPORTS and trellis.toml in step.
//
// Every WASI feature componentize-js lets us drop is disabled, so that the component imports
// nothing from WASI.
//
// package.json names @bytecodealliance/preview2-shim itself: componentize-js 0.23.0 imports it
// at build time but lists it only among its devDependencies, so `npm ci` would leave it out.

import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { componentize } from '@bytecodealliance/componentize-js';

/**
 * The interfaces of trellis:integration this integration calls. `log` needs no scope; `http`
 * stands for `wasi:http/outgoing-handler` (granted by [egress]).
 */
const IMPORTS = [];
/** The world's import line for outbound HTTP (WASI HTTP; its packages are in ../../wit/deps). */
const HTTP_IMPORT = /^wasi:http\/outgoing-handler@[0-9.]+$/;

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(process.argv[2] ?? join(here, 'dist'));

const contract = await readFile(join(here, '../../wit/world.wit'), 'utf8');
const unused = [];
const narrowed = contract.replace(/^\s*import\s+([a-z-]+|wasi:[a-z:/@.0-9-]+)\s*;\s*$/gm, (line, path) => {
  const name = HTTP_IMPORT.test(path) ? 'http' : path;
  if (name.startsWith('wasi:') || IMPORTS.includes(name)) return line;
  unused.push(name);
  return '';
});
for (const name of IMPORTS) {
  const pattern = name === 'http' ? 'wasi:http/outgoing-handler@' : `${name}\\s*;`;
  if (!contract.match(new RegExp(`^\\s*import\\s+${pattern}`, 'm'))) {
    throw new Error(`IMPORTS names \`${name}\`, which the world does not import`);
  }
}

const witDir = await mkdtemp(join(tmpdir(), 'echo-js-wit-'));
try {
  await writeFile(join(witDir, 'world.wit'), narrowed);
  if (IMPORTS.includes('http')) {
    await cp(join(here, '../../wit/deps'), join(witDir, 'deps'), { recursive: true });
  }
  const { component } = await componentize({
    sourcePath: join(here, 'index.js'),
    witPath: witDir,
    worldName: 'trellis:integration/integration',
    disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
  });
  await mkdir(outDir, { recursive: true });
  const outPath = join(outDir, 'echo-js.wasm');
  await writeFile(outPath, component);
  console.log(`${outPath}: ${component.length} bytes (left out: ${unused.join(', ')})`);
} finally {
  await rm(witDir, { recursive: true, force: true });
}
