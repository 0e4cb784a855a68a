#!/usr/bin/env node
// Compiles the bridge contracts with solc-js through the standard JSON interface and writes one artifact
// (ABI, creation bytecode, runtime bytecode) per contract into build/. Run by `make contracts`.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const ROOT = __dirname;
const BUILD = path.join(ROOT, "build");
const NODE_MODULES = path.join(ROOT, "node_modules");
// py-evm (the in-process EVM of the unit tests) supports forks up to Prague; solc 0.8.37 defaults to Osaka.
const EVM_VERSION = "prague";
const OPTIMIZER_RUNS = 1000000;

function findSources(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "build" || entry.name.startsWith(".")) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findSources(full));
    else if (entry.name.endsWith(".sol")) out.push(full);
  }
  return out.sort();
}

function findImports(importPath) {
  // Only packages installed by `npm ci` (node_modules) can be imported; nothing is fetched.
  const candidate = path.join(NODE_MODULES, importPath);
  if (!candidate.startsWith(NODE_MODULES + path.sep) || !fs.existsSync(candidate)) {
    return { error: `import not found in node_modules: ${importPath}` };
  }
  return { contents: fs.readFileSync(candidate, "utf8") };
}

function main() {
  const sources = {};
  for (const file of findSources(ROOT)) {
    sources[path.relative(ROOT, file).split(path.sep).join("/")] = { content: fs.readFileSync(file, "utf8") };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: OPTIMIZER_RUNS },
      viaIR: true,
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  let failed = false;
  for (const msg of output.errors || []) {
    if (msg.severity === "error") failed = true;
    // OpenZeppelin's own warnings (e.g. the transient-storage notice for ReentrancyGuardTransient) are noise here.
    const file = msg.sourceLocation && msg.sourceLocation.file;
    if (msg.severity !== "error" && file && file.startsWith("@openzeppelin/")) continue;
    process.stderr.write((msg.formattedMessage || msg.message) + "\n");
  }
  if (failed) {
    process.stderr.write("compilation failed\n");
    process.exit(1);
  }

  fs.mkdirSync(BUILD, { recursive: true });
  const written = [];
  for (const [source, contracts] of Object.entries(output.contracts)) {
    if (!(source in sources)) continue; // artifacts only for our own sources, not for OpenZeppelin's
    for (const [name, c] of Object.entries(contracts)) {
      const artifact = {
        contractName: name,
        sourceName: source,
        compiler: { name: "solc-js", version: solc.version(), evmVersion: EVM_VERSION, optimizerRuns: OPTIMIZER_RUNS },
        abi: c.abi,
        bytecode: "0x" + c.evm.bytecode.object,
        deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      };
      const target = path.join(BUILD, `${name}.json`);
      const tmp = `${target}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(artifact, null, 1) + "\n");
      fs.renameSync(tmp, target);
      written.push(`${name} (${c.evm.deployedBytecode.object.length / 2} bytes)`);
    }
  }
  console.log(`solc ${solc.version()}, evm ${EVM_VERSION}: ${written.join(", ")}`);
}

main();
