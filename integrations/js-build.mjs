// The build of the JavaScript integrations in this folder (each project's build.mjs calls it),
// with componentize-js's `componentize()` (the `jco componentize` CLI fails on this project's
// machines with "os error 44").
//
// componentize-js imports every interface of the world it is given, whether the JavaScript uses
// it or not, and Trellis refuses to start a component that imports an interface its
// installation was not granted. So the build takes the contract in ../wit and drops the world's
// imports the integration does not use: the component's imports then match the scopes in its
// trellis.toml. Keep each project's `imports` and its trellis.toml in step.
//
// Every WASI feature componentize-js lets us drop is disabled, so that the component imports
// nothing from WASI, except `http` for a project that imports it: that feature implements
// JavaScript's `fetch` over `wasi:http/outgoing-handler` (and the `wasi:io` streams it uses),
// which the host links only when the installation was granted egress.
//
// The caller passes `componentize`, imported from its own node_modules: this file has no
// dependencies of its own.

import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The world's import line for outbound HTTP (WASI HTTP; its packages are in ../wit/deps). */
const HTTP_IMPORT = /^wasi:http\/outgoing-handler@[0-9.]+$/;

const root = dirname(fileURLToPath(import.meta.url));

/**
 * Builds `<outDir>/<name>.wasm` from `<project>/index.js`.
 *
 * `imports`: the interfaces of trellis:integration the integration calls; `log` needs no scope,
 * `http` stands for `wasi:http/outgoing-handler` (granted by [egress]).
 */
export async function buildJs({ componentize, project, name, imports, outDir }) {
  outDir = resolve(outDir ?? join(project, 'dist'));
  const contract = await readFile(join(root, '../wit/world.wit'), 'utf8');
  const unused = [];
  const narrowed = contract.replace(
    /^\s*import\s+([a-z-]+|wasi:[a-z:/@.0-9-]+)\s*;\s*$/gm,
    (line, path) => {
      const interfaceName = HTTP_IMPORT.test(path) ? 'http' : path;
      if (interfaceName.startsWith('wasi:') || imports.includes(interfaceName)) return line;
      unused.push(interfaceName);
      return '';
    },
  );
  for (const wanted of imports) {
    const pattern = wanted === 'http' ? 'wasi:http/outgoing-handler@' : `${wanted}\\s*;`;
    if (!contract.match(new RegExp(`^\\s*import\\s+${pattern}`, 'm'))) {
      throw new Error(`imports names \`${wanted}\`, which the world does not import`);
    }
  }
  const http = imports.includes('http');
  const witDir = await mkdtemp(join(tmpdir(), `${name}-wit-`));
  try {
    await writeFile(join(witDir, 'world.wit'), narrowed);
    if (http) {
      await cp(join(root, '../wit/deps'), join(witDir, 'deps'), { recursive: true });
    }
    const disableFeatures = ['stdio', 'random', 'clocks', 'fetch-event'];
    if (!http) disableFeatures.push('http');
    const { component } = await componentize({
      sourcePath: join(project, 'index.js'),
      witPath: witDir,
      worldName: 'trellis:integration/integration',
      disableFeatures,
    });
    await mkdir(outDir, { recursive: true });
    const outPath = join(outDir, `${name}.wasm`);
    await writeFile(outPath, component);
    console.log(`${outPath}: ${component.length} bytes (left out: ${unused.join(', ')})`);
  } finally {
    await rm(witDir, { recursive: true, force: true });
  }
}
