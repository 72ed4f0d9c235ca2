import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative } from "node:path";
import { defineConfig } from "tsup";

// The npm build: ESM + CJS + declarations for each subpath of package.json's
// "exports" and each of its "bin", sharing chunks so a class is one class
// across subpaths. The entry points come from package.json itself: a new
// subpath or bin there is built (and checked by tests/package_check.mjs)
// with no change here. `./dist/X.js` is built from `X.ts`.
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
  exports: Record<string, { import: { default: string } }>;
  bin?: Record<string, string>;
};

const entryOf = (target: string): [string, string] => {
  const m = /^\.\/dist\/(.+)\.js$/.exec(target);
  if (m === null) {
    throw new Error(`package.json: ${target} is not ./dist/<file>.js`);
  }
  return [m[1], `${m[1]}.ts`];
};

const entry: Record<string, string> = Object.fromEntries([
  ...Object.values(pkg.exports).map((e) => entryOf(e.import.default)),
  ...Object.values(pkg.bin ?? {}).map(entryOf),
  // Run as a script by startPeers: node dist/node/peer_main.js …
  entryOf("./dist/node/peer_main.js"),
]);

export default defineConfig({
  entry,
  format: ["esm", "cjs"],
  dts: {
    // Only the API in the declarations: members marked @internal are left out.
    compilerOptions: { stripInternal: true },
  },
  splitting: true,
  clean: true,
  target: "node20",
  outDir: "dist",
  // Shipped, with the sources inside: `node --enable-source-maps` (and
  // Deno) show stacks, remote ones included, in the TypeScript sources.
  sourcemap: true,
  // The CJS chunks' maps name the generated file by its absolute path (a
  // step of tsup's CJS splitting): made relative, so no build machine's
  // paths ship.
  onSuccess: () => Promise.resolve(relativeSourceMaps("dist")),
  // import.meta.url in the CJS build too (startPeers finds peer_main by it).
  shims: true,
  // Keep "node:test" (no bare "test" module exists) and every node: prefix.
  removeNodeProtocol: false,
  // Deno's import.meta.main (read by the scripts) does not exist in CommonJS.
  esbuildOptions(options, context) {
    if (context.format === "cjs") {
      options.define = { ...options.define, "import.meta.main": "undefined" };
    }
  },
});

function relativeSourceMaps(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      relativeSourceMaps(path);
      continue;
    }
    if (!entry.name.endsWith(".map")) continue;
    const map = JSON.parse(readFileSync(path, "utf8"));
    if (!map.sources.some((s: string) => isAbsolute(s))) continue;
    map.sources = map.sources.map((s: string) =>
      isAbsolute(s) ? relative(dirname(path), s) : s
    );
    if (map.file && isAbsolute(map.file)) {
      map.file = relative(dirname(path), map.file);
    }
    writeFileSync(path, JSON.stringify(map));
  }
}
