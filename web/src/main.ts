import './style.css';
import { loadSession, onSignInNeeded, type SessionInfo, session, signIn, signOut } from './api.ts';
import { chartPage } from './chart-page.ts';
import { dataPage } from './data-page.ts';
import { homePage } from './home-page.ts';
import { qualityPage } from './quality-page.ts';
import { runsPage } from './runs-page.ts';

const app = document.getElementById('app')!;
const feed = document.getElementById('feed')!;
const who = document.getElementById('who')!;
let cleanup: (() => void) | null = null;

const esc = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('"', '&quot;');

/** The header's sign-in state: "Sign in", or the key's scope and "Sign out". */
function drawWho(s: SessionInfo | null): void {
  who.innerHTML = s?.signedIn
    ? `<span class="muted">signed in · ${esc(s.scope ?? '')} key</span> <button id="signOut" type="button">Sign out</button>`
    : `<button id="signInLink" type="button">Sign in</button>`;
  who.querySelector('#signOut')?.addEventListener('click', () => {
    void signOut().then((after) => {
      drawWho(after);
      if (after.keyRequired) signInPage();
      else route();
    });
  });
  who.querySelector('#signInLink')?.addEventListener('click', () => signInPage());
}

/** The sign-in form: a key (read or admin) for a session cookie. */
function signInPage(reason?: string): void {
  cleanup?.();
  cleanup = null;
  const s = session();
  app.innerHTML = `
    <form id="signin" class="signin">
      <h2>Sign in to tickline</h2>
      <p class="muted">${s?.keyRequired ? 'This server needs an API key for everything it serves.' : 'Sign in with an admin key to start backfills, runs and replays from the dashboard.'}
        Make one on the server with <code>tickline keys create --scope read</code> (or <code>--scope admin</code>).</p>
      <label>API key <input id="signinKey" type="password" autocomplete="current-password" required placeholder="tk_…"></label>
      <button type="submit">Sign in</button>
      <p id="signinMessage" class="message error" role="alert" ${reason ? '' : 'hidden'}>${esc(reason ?? '')}</p>
    </form>`;
  const form = app.querySelector('#signin') as HTMLFormElement;
  const input = app.querySelector('#signinKey') as HTMLInputElement;
  const message = app.querySelector('#signinMessage') as HTMLParagraphElement;
  input.focus();
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void signIn(input.value.trim())
      .then((after) => {
        drawWho(after);
        route();
      })
      .catch((err: Error) => {
        message.hidden = false;
        message.textContent = err.message;
      });
  });
}

function route(): void {
  cleanup?.();
  const s = session();
  if (s?.keyRequired && !s.signedIn) {
    signInPage();
    return;
  }
  const page = location.hash.replace(/^#\//, '').split('?')[0] || 'home';
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    a.classList.toggle('active', a.dataset.page === page);
  }
  cleanup =
    page === 'quality'
      ? qualityPage(app)
      : page === 'data'
        ? dataPage(app)
        : page === 'runs'
          ? runsPage(app)
          : page === 'chart'
            ? chartPage(app, feed)
            : homePage(app);
}

onSignInNeeded((message) => {
  // The session ended (signed out elsewhere, expired, the key revoked, the server restarted).
  void loadSession().then((s) => {
    drawWho(s);
    if (s.keyRequired && !s.signedIn) signInPage(message);
  });
});
window.addEventListener('hashchange', route);
void loadSession()
  .then((s) => drawWho(s))
  .catch(() => drawWho(null))
  .finally(route);
