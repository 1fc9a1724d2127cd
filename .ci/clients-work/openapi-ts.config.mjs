// @hey-api/openapi-ts: the TypeScript client an app or integration developer would generate
// (types, an SDK function per operationId, the fetch client), plus zod schemas that the SDK
// uses to check every response against the spec at run time.
import { defineConfig } from '@hey-api/openapi-ts';

export default defineConfig({
  input: process.env.OPENAPI_SPEC ?? '../../openapi/openapi.json',
  output: { path: 'out/client' },
  plugins: [
    '@hey-api/client-fetch',
    '@hey-api/typescript',
    // Requests are checked by tsc; zod's binary (multipart file) is a string, so only answers.
    { name: '@hey-api/sdk', validator: { request: false, response: 'zod' } },
    'zod',
  ],
});
