// Bundles the console and the dashboard into ../wwwroot/app (git-ignored), with the pages and styles.
// Run by `npm run build`, which the app's build runs (see WsrHotline.csproj) after `npm ci`.
import { build } from "esbuild";
import { cpSync, mkdirSync } from "node:fs";

const out = "../wwwroot/app";
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/console.ts", "src/dashboard.ts"],
  outdir: out,
  bundle: true,
  format: "esm",
  splitting: true,
  minify: true,
  sourcemap: true,
  target: "es2022",
  logLevel: "warning",
});
// The styles, with the fonts they import from npm (Noto Sans Bengali: a computer without a Bengali
// font showed empty boxes) copied beside them as app/fonts/*.woff2.
await build({
  entryPoints: ["pages/hotline.css"],
  outdir: out,
  bundle: true,
  minify: true,
  loader: { ".woff2": "file", ".woff": "file" },
  assetNames: "fonts/[name]-[hash]",
  logLevel: "warning",
});
cpSync("pages", out, { recursive: true, filter: (source) => !source.endsWith("hotline.css") });
