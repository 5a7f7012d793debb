/** Debian's Chromium, driven by playwright-core (which never downloads a browser of its own). */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Headless, with no background networking (this machine has no network to reach). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Signs the page in with a key through the dashboard's own form (the page must be on the dashboard). */
export async function signIn(page: Page, key: string): Promise<void> {
  if ((await page.locator('#signinKey').count()) === 0) await page.click('#signInLink');
  await page.fill('#signinKey', key);
  await page.click('#signin button[type="submit"]');
  await page.waitForSelector('#signOut');
}
