// Builds echo-js.wasm with ../js-build.mjs. Usage: node build.mjs [OUTDIR], default dist/.
//
// package.json names @bytecodealliance/preview2-shim itself: componentize-js 0.23.0 imports it
// at build time but lists it only among its devDependencies, so `npm ci` would leave it out.

import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { componentize } from '@bytecodealliance/componentize-js';

import { buildJs } from '../js-build.mjs';

await buildJs({
  componentize,
  project: dirname(fileURLToPath(import.meta.url)),
  name: 'echo-js',
  // The interfaces of trellis:integration it calls (see ../js-build.mjs); keep in step with
  // trellis.toml.
  imports: [],
  outDir: process.argv[2],
});
