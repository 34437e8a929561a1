// Builds the browser SDK into the Python package (python/reactor_analytics/static/), which the
// service serves and every wheel carries:
//   tracker.js  the script tag (IIFE, minified)
//   sdk.js      the ES module exporting createClient
//   sdk.d.ts    its TypeScript declarations
// and, for the unit tests only, unminified ES modules of the sources in build/test/.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "python", "reactor_analytics", "static");
const { version } = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));
const common = { bundle: true, target: "es2019", define: { VERSION: JSON.stringify(version) }, logLevel: "warning" };

// Types first: a type error stops the build.
const tsc = join(here, "node_modules", "typescript", "bin", "tsc");
execFileSync(process.execPath, [tsc, "-p", here, "--noEmit", "false", "--declaration", "--emitDeclarationOnly",
  "--outDir", join(here, "build", "types")], { stdio: "inherit" });
mkdirSync(out, { recursive: true });
copyFileSync(join(here, "build", "types", "sdk.d.ts"), join(out, "sdk.d.ts"));

await esbuild.build({ ...common, entryPoints: [join(here, "src", "tracker.ts")], format: "iife", minify: true,
  outfile: join(out, "tracker.js") });
await esbuild.build({ ...common, entryPoints: [join(here, "src", "sdk.ts")], format: "esm", minify: true,
  outfile: join(out, "sdk.js") });
await esbuild.build({ ...common, entryPoints: [join(here, "src", "core.ts"), join(here, "src", "sdk.ts")],
  format: "esm", outdir: join(here, "build", "test"), outExtension: { ".js": ".mjs" } });

const tracker = readFileSync(join(out, "tracker.js"));
console.log(`tracker.js: ${tracker.length} bytes, ${gzipSync(tracker, { level: 9 }).length} bytes gzip`);
