#!/usr/bin/env node
// Validate a glTF/GLB file with the Khronos glTF validator and print the report as JSON.
// Usage: node tools/gltf-validator/validate.js FILE.glb   (exit code 0 = no errors, 1 = errors, 2 = usage)
'use strict';
const fs = require('fs');
const path = require('path');
const validator = require('gltf-validator');

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate.js FILE.glb');
  process.exit(2);
}
const data = new Uint8Array(fs.readFileSync(file));
validator.validateBytes(data, {
  uri: path.basename(file),
  maxIssues: 1000,
  externalResourceFunction: (uri) => Promise.reject(new Error('external resources are not allowed: ' + uri)),
}).then((report) => {
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  process.exit(report.issues.numErrors > 0 ? 1 : 0);
}).catch((err) => {
  console.error('validation failed: ' + err);
  process.exit(2);
});
