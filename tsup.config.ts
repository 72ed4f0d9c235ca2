import { defineConfig } from "tsup";

// The npm build: ESM + CJS + declarations for each subpath of package.json's
// "exports", sharing chunks so a class is one class across subpaths.
export default defineConfig({
  entry: {
    "mod": "mod.ts",
    "node/mod": "node/mod.ts",
    "task/mod": "task/mod.ts",
    "gen/mod": "gen/mod.ts",
    "router/mod": "router/mod.ts",
    "chat/mod": "chat/mod.ts",
    "pubsub/mod": "pubsub/mod.ts",
    "testing/mod": "testing/mod.ts",
    // Run as a script by startPeers: node dist/node/peer_main.js …
    "node/peer_main": "node/peer_main.ts",
    // The npm bin noderl-registry (its #! line comes from the source).
    "node/registry_main": "node/registry_main.ts",
    // The npm bins noderl-kv and noderl-chat.
    "router/main": "router/main.ts",
    "chat/main": "chat/main.ts",
    // The npm bin noderl-top.
    "node/top_main": "node/top_main.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  splitting: true,
  clean: true,
  target: "node20",
  outDir: "dist",
  sourcemap: false,
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
