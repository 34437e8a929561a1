// Builds the dashboard into the Python package (python/reactor_analytics/static/dashboard/), which
// the service serves at / and every wheel carries:
//   index.html                 the page (no inline script: CSP script-src 'self')
//   assets/app-<hash>.js|css   the bundle, content-hashed so it may be cached for a year
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "python", "reactor_analytics", "static", "dashboard");
const assets = join(out, "assets");

// Types first: a type error stops the build.
const tsc = join(here, "node_modules", "typescript", "bin", "tsc");
execFileSync(process.execPath, [tsc, "-p", here], { stdio: "inherit" });

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });
const result = await esbuild.build({
  entryPoints: { app: join(here, "src", "main.ts") },
  bundle: true, format: "esm", target: "es2020", minify: true, sourcemap: false,
  entryNames: "[name]-[hash]", chunkNames: "[name]-[hash]", assetNames: "[name]-[hash]", outdir: assets, metafile: true,
  splitting: true,
  logLevel: "warning", legalComments: "none",
});
const files = Object.keys(result.metafile.outputs).map((f) => basename(f));
const entry = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint)[0];
const js = basename(entry);
const css = files.find((f) => f.endsWith(".css"));
const template = readFileSync(join(here, "src", "index.html"), "utf8");
writeFileSync(join(out, "index.html"), template
  .replace("%CSS%", `/dashboard/assets/${css}`)
  .replace("%JS%", `/dashboard/assets/${js}`));
for (const f of files) {
  const body = readFileSync(join(assets, f));
  console.log(`dashboard ${f}: ${body.length} bytes, ${gzipSync(body, { level: 9 }).length} bytes gzip`);
}
