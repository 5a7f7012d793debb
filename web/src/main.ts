import './style.css';
import { chartPage } from './chart-page.ts';
import { dataPage } from './data-page.ts';
import { qualityPage } from './quality-page.ts';
import { runsPage } from './runs-page.ts';

const app = document.getElementById('app')!;
const feed = document.getElementById('feed')!;
let cleanup: (() => void) | null = null;

function route(): void {
  cleanup?.();
  const page = location.hash.replace(/^#\//, '').split('?')[0] || 'chart';
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
          : chartPage(app, feed);
}

window.addEventListener('hashchange', route);
route();
