// GraphiQL as a person uses it: Debian's Chromium, driven by playwright-core, against Keyscope
// on a real port. It must load with nothing fetched from outside the machine, run a query
// with an API key typed into the headers editor, and forget that key on reload.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, createKey, createTestApp, signUp } from '../harness.ts';
import { type Listening, listen } from '../listen.ts';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT_DIR = fileURLToPath(new URL('../../test-output/', import.meta.url));
const SKIP_NOTE = `${CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium; .ci/run does) to run the GraphiQL browser test`;

// Editors are Monaco: `insertText` types like a paste, then whatever Monaco auto-closed after
// the cursor (a `}`) is selected and deleted.
async function replaceEditorText(page: Page, editorSelector: string, text: string): Promise<void> {
  await page.click(editorSelector);
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(text);
  await page.keyboard.press('Shift+ControlOrMeta+End');
  await page.keyboard.press('Delete');
}

const QUERY_EDITOR = '.graphiql-query-editor .monaco-editor';
const VISIBLE_TOOL_EDITOR = 'section.graphiql-editor-tool .graphiql-editor:not(.hidden) .monaco-editor';

function isLocal(url: string): boolean {
  // blob: and data: URLs are made by the page itself (GraphiQL's editor workers).
  if (url.startsWith('blob:') || url.startsWith('data:')) return true;
  const { hostname } = new URL(url);
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
}

describe('GraphiQL in a real browser', () => {
  let t: TestApp;
  let server: Listening | undefined;
  let profileDir: string;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) return;
    t = await createTestApp();
    server = await listen(t.app);
    profileDir = mkdtempSync(path.join(tmpdir(), 'keyscope-chromium-'));
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    await t?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  it('loads locally, runs a query with a key from the headers editor, and forgets the key on reload', { timeout: 90_000 }, async ({ skip }) => {
    if (!existsSync(CHROMIUM)) skip(SKIP_NOTE);
    const owner = await signUp(t);
    const key = await createKey(t, owner, { environment: 'TEST', scope: 'READ', name: 'graphiql' });
    expect(key.secret).toMatch(/^sk_test_/);

    // A fresh profile: nothing remembered from another run.
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      viewport: { width: 1280, height: 720 },
    });
    const requests: { url: string; method: string; authorization: string | undefined }[] = [];
    context.on('request', (request) => {
      requests.push({ url: request.url(), method: request.method(), authorization: request.headers().authorization });
    });
    // Belt and braces: anything bound elsewhere is recorded above and never sent.
    await context.route(
      (url) => !isLocal(url.href),
      (route) => route.abort(),
    );
    const page = context.pages()[0] ?? (await context.newPage());

    const response = await page.goto(server?.graphqlUrl ?? '');
    expect(response?.status()).toBe(200);
    await page.waitForSelector(QUERY_EDITOR, { timeout: 30_000 });
    // GraphiQL introspects the schema once loaded.
    await expect.poll(() => requests.filter((r) => r.method === 'POST').length, { timeout: 15_000 }).toBeGreaterThan(0);

    await replaceEditorText(page, QUERY_EDITOR, '{ viewer { authMethod } }');
    await page.getByRole('button', { name: 'Headers' }).click();
    await replaceEditorText(page, VISIBLE_TOOL_EDITOR, JSON.stringify({ Authorization: `Bearer ${key.secret}` }));
    await page.click('.graphiql-execute-button');

    const result = page.locator('section.result-window');
    await expect.poll(async () => ((await result.textContent()) ?? '').replace(/\s+/g, ' '), { timeout: 15_000 }).toContain('"authMethod": "API_KEY"');
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'graphiql.png') });

    // The key travelled in the Authorization header, never in a URL.
    const keyed = requests.filter((r) => r.authorization === `Bearer ${key.secret}`);
    expect(keyed.length).toBeGreaterThan(0);
    expect(keyed.every((r) => r.method === 'POST' && new URL(r.url).pathname === '/graphql')).toBe(true);
    expect(requests.some((r) => r.url.includes(key.secret))).toBe(false);

    await page.reload();
    await page.waitForSelector(QUERY_EDITOR, { timeout: 30_000 });
    await page.getByRole('button', { name: 'Headers' }).click();
    const headersAfterReload = await page.locator('section.graphiql-editor-tool').textContent();
    expect(headersAfterReload).not.toContain('sk_test_');
    expect(headersAfterReload).not.toContain('Authorization');
    const storage = (await page.evaluate(
      'JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })',
    )) as string;
    expect(storage).not.toContain(key.secret);
    expect(storage).not.toContain('sk_test_');
    // The query itself may be remembered; that is harmless.
    expect(storage).toContain('viewer');

    // Every request the page made, before and after the reload, stayed on this machine.
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((r) => !isLocal(r.url)).map((r) => r.url)).toEqual([]);
  });
});
