#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
import { main } from "../dist/cli/main.js";
main(process.argv).catch((err) => {
  process.stderr.write(`kedge: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
