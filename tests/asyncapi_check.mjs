// Validates an AsyncAPI document with the AsyncAPI project's own parser.
// usage: node tests/asyncapi_check.mjs FILE
// Prints one JSON line: {"valid", "errors": [...], "version", "messages": [names],
// "operations": {id: action}} and exits 0 when the document has no error.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(new URL('../test_clients/package.json', import.meta.url));
const { Parser } = require('@asyncapi/parser');

const text = readFileSync(process.argv[2], 'utf8');
const { document, diagnostics } = await new Parser().parse(text);
const errors = diagnostics
  .filter((d) => d.severity === 0)
  .map((d) => `${d.path.join('.')}: ${d.message}`);
const result = { valid: document !== undefined && errors.length === 0, errors };
if (document) {
  result.version = document.version();
  result.messages = document.allMessages().all().map((m) => m.name());
  result.operations = Object.fromEntries(
    document.allOperations().all().map((o) => [o.id(), o.action()]),
  );
}
console.log(JSON.stringify(result));
process.exit(result.valid ? 0 : 1);
