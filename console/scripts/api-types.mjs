// src/api/schema.d.ts from src/api/openapi.json (the app's document, checked against the app by
// tools/test-app.sh). With --check, writes nothing and fails when the committed types are not
// what the generator makes now, so they never drift from the API.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const committed = 'src/api/schema.d.ts';
const check = process.argv.includes('--check');
const out = check ? join(mkdtempSync(join(tmpdir(), 'hearth-api-')), 'schema.d.ts') : committed;
// Fields with a server-side default stay optional in requests.
execFileSync(
  'node_modules/.bin/openapi-typescript',
  ['src/api/openapi.json', '-o', out, '--default-non-nullable=false'],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
if (check) {
  if (readFileSync(out, 'utf8') !== readFileSync(committed, 'utf8')) {
    console.error(`${committed} is stale: run bash tools/console.sh api`);
    process.exit(1);
  }
  console.log('API types are current');
}
